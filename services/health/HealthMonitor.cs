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
            LogStatusChange(row.DeploymentId, before, row.Status, reason);
            await alerts.AddAsync(alert, cancellationToken);
            await events.PublishAsync(Topics.HealthAlerts, alert, cancellationToken);
        }

        await events.PublishAsync(Topics.DeploymentHealth, new DeploymentHealthSnapshot(report.Deployments, now), cancellationToken);
        return report;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
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

    [LoggerMessage(EventId = 5001, EventName = "health_alert", Level = LogLevel.Warning, Message = "Deployment {DeploymentId} is now {Status} (was {Previous}): {Reason}")]
    private partial void LogStatusChange(string deploymentId, string previous, string status, string reason);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Health round failed ({Failure}); retrying next interval")]
    private partial void LogRoundFailed(string failure);
}
