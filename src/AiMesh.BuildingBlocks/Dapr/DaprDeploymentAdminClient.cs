using System.Globalization;
using System.Net.Http.Json;
using AiMesh.Contracts;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>router (admin API) → provider-adapter over Dapr service invocation: catalog changes at runtime.</summary>
public sealed class DaprDeploymentAdminClient(HttpClient http) : IDeploymentAdminClient
{
    public const string ListRoute = "/catalog/deployments";
    public const string ItemRoute = "/catalog/deployments/{deploymentId}";
    public const string EnabledRoute = "/catalog/deployments/{deploymentId}/enabled/{enabled}";
    public const string ReencryptRoute = "/catalog/reencrypt";

    public async Task<IReadOnlyList<DeploymentView>> ListAsync(CancellationToken cancellationToken) =>
        (await http.GetFromJsonAsync<List<DeploymentView>>(ListRoute, AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;

    public async Task<DeploymentAdminResult> PutAsync(string id, DeploymentSpec spec, CancellationToken cancellationToken)
    {
        using var content = InvokeContent.Json(spec);
        using var response = await http.PutAsync(Item(ItemRoute, id), content, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<DeploymentAdminResult> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await http.DeleteAsync(Item(ItemRoute, id), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<DeploymentAdminResult> SetEnabledAsync(string id, bool enabled, CancellationToken cancellationToken)
    {
        var route = Item(EnabledRoute, id).Replace("{enabled}", enabled ? "true" : "false", StringComparison.Ordinal);
        using var response = await http.PostAsync(route, content: null, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<DeploymentAdminResult> ReencryptAsync(CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(ReencryptRoute, content: null, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<DeploymentAdminResult> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<DeploymentAdminResult>(AiMeshJson.Options, cancellationToken).ConfigureAwait(false))!;
    }

    private static string Item(string template, string id) =>
        template.Replace("{deploymentId}", Uri.EscapeDataString(id), StringComparison.Ordinal).ToString(CultureInfo.InvariantCulture);
}
