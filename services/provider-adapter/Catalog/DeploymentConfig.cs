using AiMesh.Contracts;

namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>A validated deployment. Immutable: runtime state lives in <see cref="Resilience.DeploymentRuntime"/>.</summary>
public sealed record DeploymentConfig(
    string Id,
    string Provider,
    Uri BaseUrl,
    string Model,
    IReadOnlyList<string> Aliases,
    string? ApiKeySecret,
    int Priority,
    bool Enabled,
    ModelPrice? Price,
    ResilienceOptions Resilience)
{
    public const string AnyModel = "*";

    /// <summary>Azure OpenAI only: the REST API version (e.g. <c>2024-10-21</c>, or <c>v1</c> for the v1 API).</summary>
    public string ApiVersion { get; init; } = ProviderTypes.DefaultAzureApiVersion;

    /// <summary>Azure OpenAI only: the Azure deployment name; null means the model name.</summary>
    public string? AzureDeployment { get; init; }

    /// <summary>Every secret holding a key of this deployment, in rotation order (<see cref="ApiKeySecret"/> first).</summary>
    public IReadOnlyList<string> ApiKeySecrets { get; init; } = ApiKeySecret is null ? [] : [ApiKeySecret];

    /// <summary>How long a key that answered 401 stays out of the rotation.</summary>
    public TimeSpan KeyDisableDuration { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Share of traffic under the router's weighted strategy.</summary>
    public int Weight { get; init; } = 1;

    /// <summary>What the deployment's model can do (configured, or the provider type's defaults).</summary>
    public DeploymentCapabilities Capabilities { get; init; } = ProviderTypes.DefaultCapabilities(ProviderTypes.OpenAiCompatible, AnyModel);

    /// <summary>The model name sent to the provider for a caller's model.</summary>
    public string UpstreamModel(string requested) => Model == AnyModel ? requested : Model;

    /// <summary>The Azure deployment name for a caller's model.</summary>
    public string UpstreamDeployment(string requested) => AzureDeployment ?? UpstreamModel(requested);

    /// <summary>The price for a request, falling back on the built-in table for a pass-through deployment.</summary>
    public ModelPrice PriceFor(string requestedModel) =>
        Price ?? PriceTable.Find(UpstreamModel(requestedModel)) ?? ModelPrice.Unknown;
}
