using System.Text.Json.Serialization;

namespace AiMesh.Contracts;

/// <summary>
/// A deployment as an admin adds or replaces it (<c>PUT /admin/deployments/{id}</c>). Keys are given
/// either in clear in <see cref="ApiKeys"/> — stored encrypted (AES-GCM), never shown again — or as
/// names of secrets in the secret store (<see cref="ApiKeySecrets"/>).
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record DeploymentSpec
{
    public string? Provider { get; init; }
    public string? BaseUrl { get; init; }
    public string? Model { get; init; }
    public List<string>? Aliases { get; init; }
    public List<string>? ApiKeys { get; init; }
    public List<string>? ApiKeySecrets { get; init; }
    public int? Priority { get; init; }
    public int? Weight { get; init; }
    public bool? Enabled { get; init; }
    public decimal? InputPricePerMillion { get; init; }
    public decimal? OutputPricePerMillion { get; init; }
    public decimal? CachedInputPricePerMillion { get; init; }
    public string? ApiVersion { get; init; }
    public string? AzureDeployment { get; init; }
    public CapabilitySpec? Capabilities { get; init; }
}

/// <summary>Capabilities of a deployment added through the admin API; null takes the provider type's default.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CapabilitySpec(bool? Vision, bool? Tools, bool? JsonMode, int? ContextWindow, bool? Embeddings);

/// <summary>What an admin sees of a deployment: keys masked, never in clear.</summary>
/// <param name="Source"><c>config</c> (settings: read-only here but for enable/disable) or <c>admin</c>.</param>
/// <param name="Keys">Masked keys (<c>sk-…wxyz</c>) and the names of secret-store keys.</param>
public sealed record DeploymentView(
    string Id,
    string Source,
    string Provider,
    string BaseUrl,
    string Model,
    IReadOnlyList<string> Aliases,
    int Priority,
    int Weight,
    bool Enabled,
    IReadOnlyList<string> Keys,
    DateTimeOffset? UpdatedAt);

/// <summary>The answer of a catalog change: an HTTP status, the deployment, and a message (what is wrong, or what was done).</summary>
public sealed record DeploymentAdminResult(
    int Status,
    DeploymentView? Deployment = null,
    string? Detail = null,
    IReadOnlyDictionary<string, string[]>? Errors = null);

/// <summary>router (admin API) → provider-adapter: the catalog, changed at runtime without a restart.</summary>
public interface IDeploymentAdminClient
{
    Task<IReadOnlyList<DeploymentView>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Adds (201) or replaces (200) an admin-managed deployment.</summary>
    Task<DeploymentAdminResult> PutAsync(string id, DeploymentSpec spec, CancellationToken cancellationToken);

    Task<DeploymentAdminResult> DeleteAsync(string id, CancellationToken cancellationToken);

    /// <summary>Enables or disables any deployment, configured ones included.</summary>
    Task<DeploymentAdminResult> SetEnabledAsync(string id, bool enabled, CancellationToken cancellationToken);

    /// <summary>Re-encrypts every stored key with the current encryption key (after a key rotation).</summary>
    Task<DeploymentAdminResult> ReencryptAsync(CancellationToken cancellationToken);
}
