using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.Health;

/// <summary>
/// Publishes the health snapshot on an interval (routers and adapters keep it locally, so no
/// request ever waits on the health service), and raises an alert whenever a deployment's
/// status changes: an event, a log line and an entry for the admin API.
/// </summary>
public sealed partial class HealthMonitor(
    HealthService health,
    IProviderAdapterClient providers,
    IDeploymentOperations operations,
    DeploymentStats stats,
    IEventPublisher events,
    HealthAlertLog alerts,
    IOptionsMonitor<HealthOptions> options,
    TimeProvider time,
    ILogger<HealthMonitor> logger) : BackgroundService
{
    private readonly Dictionary<string, string> _lastStatus = new(StringComparer.Ordinal);

    /// <summary>One round: build the report, publish it, alert on changes. Returns the report.</summary>
    public async Task<HealthReport> PublishOnceAsync(CancellationToken cancellationToken)
    {
        var report = await health.GetReportAsync(cancellationToken);
        var now = time.GetUtcNow();
        foreach (var row in report.Deployments)
        {
            var before = _lastStatus.GetValueOrDefault(row.DeploymentId, HealthService.Healthy);
            _lastStatus[row.DeploymentId] = row.Status;
            if (before == row.Status)
            {
                continue;
            }

            var reason = row.BreakerState == "open" ? "circuit breaker open"
                : $"error rate {row.ErrorRate:P0}, p95 {row.P95LatencyMs:0} ms over {row.Requests} requests";
            var alert = new HealthAlert(row.DeploymentId, row.Provider, before, row.Status, reason, now);
            LogStatusChange(LogEvents.HealthAlert, row.DeploymentId, before, row.Status, reason);
            await alerts.AddAsync(alert, cancellationToken);
            await events.PublishAsync(Topics.HealthAlerts, alert, cancellationToken);
        }

        await events.PublishAsync(Topics.DeploymentHealth, new DeploymentHealthSnapshot(report.Deployments, now), cancellationToken);
        return report;
    }

    /// <summary>Probes every enabled deployment once; each result is a sample of its statistics too.</summary>
    public async Task ProbeAllAsync(CancellationToken cancellationToken)
    {
        var deployments = await providers.GetDeploymentsAsync(cancellationToken);
        await Task.WhenAll(deployments.Where(d => d.Enabled).Select(async d =>
        {
            var probe = await operations.ProbeAsync(d.Id, cancellationToken);
            health.RecordProbe(d.Id, probe);
            stats.Record(d.Id, probe.At, probe.LatencyMs, failed: !probe.Succeeded);
            if (!probe.Succeeded)
            {
                LogProbeFailed(d.Id, probe.Status);
            }
        }));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nextProbe = time.GetUtcNow() + options.CurrentValue.ProbeInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            var interval = options.CurrentValue.ProbeInterval;
            if (interval > TimeSpan.Zero && time.GetUtcNow() >= nextProbe)
            {
                nextProbe = time.GetUtcNow() + interval;
                try
                {
                    await ProbeAllAsync(stoppingToken);
                }
                catch (Exception exception) when (exception is HttpRequestException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
                {
                    LogRoundFailed(exception.GetType().Name);
                }
            }

            try
            {
                await PublishOnceAsync(stoppingToken);
            }
            catch (Exception exception) when (exception is HttpRequestException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
            {
                LogRoundFailed(exception.GetType().Name);
            }

            try
            {
                await Task.Delay(options.CurrentValue.PublishInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 5001, EventName = LogEvents.HealthAlert, Level = LogLevel.Warning, Message = "{EventName}: deployment {DeploymentId} is now {Status} (was {Previous}): {Reason}")]
    private partial void LogStatusChange(string eventName, string deploymentId, string previous, string status, string reason);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Probe of deployment {DeploymentId} failed (HTTP {Status}; 0 = no answer)")]
    private partial void LogProbeFailed(string deploymentId, int status);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Health round failed ({Failure}); retrying next interval")]
    private partial void LogRoundFailed(string failure);
}
