using System.Collections.Concurrent;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.Health;

/// <summary>Builds the health report: every deployment with its status, breaker, latency percentiles and adaptive timeout.</summary>
public sealed class HealthService(IProviderAdapterClient providers, DeploymentStats stats, HealthAlertLog alerts, IOptionsMonitor<HealthOptions> options) : IHealthClient
{
    public const string Healthy = "healthy";
    public const string Degraded = "degraded";
    public const string Unhealthy = "unhealthy";

    private readonly ConcurrentDictionary<string, ProbeResult> _probes = new(StringComparer.Ordinal);

    public async Task<HealthReport> GetReportAsync(CancellationToken cancellationToken)
    {
        var deployments = await providers.GetDeploymentsAsync(cancellationToken);
        var rows = deployments.Where(d => d.Enabled).Select(d => Row(d)).ToList();
        var overall = rows.Count == 0 || rows.All(r => r.Status == Unhealthy) ? Unhealthy
            : rows.Any(r => r.Status != Healthy) ? Degraded
            : Healthy;
        return new HealthReport(overall, rows);
    }

    public Task<IReadOnlyList<HealthAlert>> GetAlertsAsync(string month, CancellationToken cancellationToken) => alerts.GetAsync(month, cancellationToken);

    public void RecordProbe(string deploymentId, ProbeResult probe) => _probes[deploymentId] = probe;

    private DeploymentHealth Row(DeploymentInfo deployment)
    {
        var s = stats.Snapshot(deployment.Id);
        var settings = options.CurrentValue;
        return new DeploymentHealth(deployment.Id, deployment.Provider, Status(deployment.BreakerState, s), deployment.BreakerState, s.Requests, s.ErrorRate, s.P50, s.P95)
        {
            P99LatencyMs = s.P99,
            Throughput = s.PerMinute,
            TimeoutMs = s.P95 is { } p95 && s.Requests >= settings.MinimumSamples
                ? Math.Clamp(p95 * settings.TimeoutMultiplier, settings.MinTimeout.TotalMilliseconds, settings.MaxTimeout.TotalMilliseconds)
                : null,
            LastProbe = _probes.GetValueOrDefault(deployment.Id),
        };
    }

    /// <summary>
    /// Unhealthy: breaker open, or (with enough samples) error rate above 10% or p95 above 5 s.
    /// Degraded: error rate from 5% or p95 from 2 s. Healthy otherwise.
    /// </summary>
    public string Status(string breakerState, StatsSnapshot s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var t = options.CurrentValue;
        if (breakerState == "open")
        {
            return Unhealthy;
        }

        if (s.Requests < t.MinimumSamples)
        {
            return Healthy;
        }

        if (s.ErrorRate > t.UnhealthyErrorRate || s.P95 > t.UnhealthyP95Ms)
        {
            return Unhealthy;
        }

        return s.ErrorRate >= t.DegradedErrorRate || s.P95 >= t.DegradedP95Ms ? Degraded : Healthy;
    }
}
