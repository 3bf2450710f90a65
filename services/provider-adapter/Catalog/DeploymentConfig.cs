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

    /// <summary>The model name sent to the provider for a caller's model.</summary>
    public string UpstreamModel(string requested) => Model == AnyModel ? requested : Model;

    /// <summary>The price for a request, falling back on the built-in table for a pass-through deployment.</summary>
    public ModelPrice PriceFor(string requestedModel) =>
        Price ?? PriceTable.Find(UpstreamModel(requestedModel)) ?? ModelPrice.Unknown;
}

public static class ProviderTypes
{
    public const string OpenAi = "openai";
    public const string OpenAiCompatible = "openai-compatible";

    public static readonly IReadOnlySet<string> Supported = new HashSet<string>(StringComparer.Ordinal) { OpenAi, OpenAiCompatible };
}
