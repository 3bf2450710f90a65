using AiMesh.Contracts;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AiMesh.BuildingBlocks.Services;

/// <summary>Tells whether each of the five services can serve (its /health/ready).</summary>
public interface IServiceStatusProbe
{
    /// <summary>app-id → "healthy" or "unhealthy".</summary>
    Task<IReadOnlyDictionary<string, string>> ProbeAsync(CancellationToken cancellationToken);
}

/// <summary>Embedded mode: the five services share one process, so they share its readiness.</summary>
public sealed class InProcessServiceStatusProbe(HealthCheckService checks) : IServiceStatusProbe
{
    public async Task<IReadOnlyDictionary<string, string>> ProbeAsync(CancellationToken cancellationToken)
    {
        var report = await checks.CheckHealthAsync(c => c.Tags.Contains("ready"), cancellationToken).ConfigureAwait(false);
        var status = report.Status == HealthStatus.Healthy ? "healthy" : "unhealthy";
        return AppIds.All.ToDictionary(id => id, _ => status);
    }
}

/// <summary>Dapr mode: each service's /health/ready through service invocation, in parallel, 2 s each.</summary>
public sealed class DaprServiceStatusProbe(IHttpClientFactory clients) : IServiceStatusProbe
{
    public const string ClientName = "service-status";

    public async Task<IReadOnlyDictionary<string, string>> ProbeAsync(CancellationToken cancellationToken)
    {
        var probes = AppIds.All.Select(async id => (id, await ProbeOneAsync(id, cancellationToken).ConfigureAwait(false)));
        return (await Task.WhenAll(probes).ConfigureAwait(false)).ToDictionary(p => p.id, p => p.Item2);
    }

    private async Task<string> ProbeOneAsync(string appId, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            using var response = await clients.CreateClient(ClientName)
                .GetAsync(new Uri($"http://{appId}/health/ready"), timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? "healthy" : "unhealthy";
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return "unhealthy";
        }
    }
}
