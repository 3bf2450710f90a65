namespace AiMesh.Contracts;

/// <summary>One deployment's health: status, breaker, and its statistics over the rolling window.</summary>
public sealed record DeploymentHealth(
    string DeploymentId,
    string Provider,
    string Status,
    string BreakerState,
    long Requests,
    double ErrorRate,
    double? P50LatencyMs,
    double? P95LatencyMs)
{
    public double? P99LatencyMs { get; init; }

    /// <summary>Requests per minute over the window.</summary>
    public double Throughput { get; init; }

    /// <summary>The adaptive attempt timeout: p95 × multiplier within the configured bounds (null: not enough data).</summary>
    public double? TimeoutMs { get; init; }

    /// <summary>The last active probe: when, and whether it succeeded.</summary>
    public ProbeResult? LastProbe { get; init; }
}

public sealed record ProbeResult(DateTimeOffset At, bool Succeeded, int Status, double LatencyMs);

public sealed record HealthReport(string Status, IReadOnlyList<DeploymentHealth> Deployments);

/// <summary>Published on <see cref="Topics.DeploymentHealth"/> every few seconds: the routers' and adapters' view of health.</summary>
public sealed record DeploymentHealthSnapshot(IReadOnlyList<DeploymentHealth> Deployments, DateTimeOffset At);

/// <summary>Published on <see cref="Topics.HealthAlerts"/> when a deployment's status changes.</summary>
public sealed record HealthAlert(string DeploymentId, string Provider, string From, string To, string Reason, DateTimeOffset At);

/// <summary>router → health (operations endpoints only, never on the request path).</summary>
public interface IHealthClient
{
    Task<HealthReport> GetReportAsync(CancellationToken cancellationToken);

    /// <summary>The health alerts of a calendar month ("yyyy-MM").</summary>
    Task<IReadOnlyList<HealthAlert>> GetAlertsAsync(string month, CancellationToken cancellationToken);
}
