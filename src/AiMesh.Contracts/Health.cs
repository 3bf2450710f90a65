namespace AiMesh.Contracts;

public sealed record DeploymentHealth(
    string DeploymentId,
    string Provider,
    string Status,
    string BreakerState,
    long Requests,
    double ErrorRate,
    double? P50LatencyMs,
    double? P95LatencyMs);

public sealed record HealthReport(string Status, IReadOnlyList<DeploymentHealth> Deployments);

/// <summary>router → health (operations endpoints only, never on the request path).</summary>
public interface IHealthClient
{
    Task<HealthReport> GetReportAsync(CancellationToken cancellationToken);
}
