using System.Net.Http.Json;
using AiMesh.Contracts;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>health and router → provider-adapter's deployment operations over Dapr service invocation.</summary>
public sealed class DaprDeploymentOperationsClient(HttpClient http) : IDeploymentOperations
{
    public const string ProbeRoute = "/deployments/{deploymentId}/probe";
    public const string ResetBreakerRoute = "/deployments/{deploymentId}/reset-breaker";

    public async Task<ProbeResult> ProbeAsync(string deploymentId, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(Route(ProbeRoute, deploymentId), content: null, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ProbeResult>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<bool> ResetBreakerAsync(string deploymentId, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(Route(ResetBreakerRoute, deploymentId), content: null, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<bool>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false);
    }

    private static string Route(string template, string deploymentId) =>
        template.Replace("{deploymentId}", Uri.EscapeDataString(deploymentId), StringComparison.Ordinal);
}
