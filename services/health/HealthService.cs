using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.Health;

/// <summary>Thresholds of the health status (section <c>AiMesh:Health</c>); the seeds' defaults.</summary>
public sealed class HealthThresholds
{
    public const string Section = "AiMesh:Health";

    /// <value>Defaults to 2,000 ms: above it a deployment is degraded.</value>
    public double DegradedP95Ms { get; set; } = 2000;

    /// <value>Defaults to 5,000 ms: above it a deployment is unhealthy.</value>
    public double UnhealthyP95Ms { get; set; } = 5000;

    /// <value>Defaults to 0.05.</value>
    public double DegradedErrorRate { get; set; } = 0.05;

    /// <value>Defaults to 0.10.</value>
    public double UnhealthyErrorRate { get; set; } = 0.10;
}

/// <summary>Builds the health report: every deployment with its status, breaker and latency.</summary>
public sealed class HealthService(IProviderAdapterClient providers, DeploymentStats stats, IOptionsMonitor<HealthThresholds> thresholds) : IHealthClient
{
    public const string Healthy = "healthy";
    public const string Degraded = "degraded";
    public const string Unhealthy = "unhealthy";

    public async Task<HealthReport> GetReportAsync(CancellationToken cancellationToken)
    {
        var deployments = await providers.GetDeploymentsAsync(cancellationToken);
        var rows = deployments.Where(d => d.Enabled).Select(d =>
        {
            var (requests, errorRate, p50, p95) = stats.Snapshot(d.Id);
            return new DeploymentHealth(d.Id, d.Provider, Status(d.BreakerState, errorRate, p95), d.BreakerState, requests, errorRate, p50, p95);
        }).ToList();
        var overall = rows.Count == 0 || rows.All(r => r.Status == Unhealthy) ? Unhealthy
            : rows.Any(r => r.Status != Healthy) ? Degraded
            : Healthy;
        return new HealthReport(overall, rows);
    }

    public string Status(string breakerState, double errorRate, double? p95)
    {
        var t = thresholds.CurrentValue;
        if (breakerState == "open" || errorRate > t.UnhealthyErrorRate || p95 > t.UnhealthyP95Ms)
        {
            return Unhealthy;
        }

        return errorRate >= t.DegradedErrorRate || p95 >= t.DegradedP95Ms ? Degraded : Healthy;
    }
}
