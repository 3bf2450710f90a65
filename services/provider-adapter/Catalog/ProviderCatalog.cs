using System.Collections.Frozen;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>The validated deployments, by id and in priority order.</summary>
public sealed class ProviderCatalog
{
    private readonly FrozenDictionary<string, DeploymentConfig> _byId;

    public ProviderCatalog(IOptions<ProviderCatalogOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Deployments = options.Value.Deployments.Select(Freeze).OrderBy(d => d.Priority).ToList();
        _byId = Deployments.ToFrozenDictionary(d => d.Id, StringComparer.Ordinal);
    }

    public IReadOnlyList<DeploymentConfig> Deployments { get; }

    public DeploymentConfig? Find(string id) => _byId.GetValueOrDefault(id);

    private static DeploymentConfig Freeze(DeploymentOptions o)
    {
        var price = o.InputPricePerMillion is null && o.OutputPricePerMillion is null
            ? null
            : new ModelPrice(o.InputPricePerMillion ?? 0, o.OutputPricePerMillion ?? 0, o.CachedInputPricePerMillion ?? o.InputPricePerMillion ?? 0);
        return new DeploymentConfig(
            o.Id!,
            o.Provider!,
            new Uri(o.BaseUrl!.TrimEnd('/') + "/"),
            o.Model!,
            o.Aliases.ToArray(),
            string.IsNullOrWhiteSpace(o.ApiKeySecret) ? null : o.ApiKeySecret,
            o.Priority,
            o.Enabled,
            price,
            o.Resilience);
    }
}

/// <summary>
/// The providers' own conventional variables configure a deployment with no file at all:
/// <c>OPENAI_API_KEY</c> and/or <c>OPENAI_BASE_URL</c> (or, in Dapr mode where the key lives in
/// the secret store, <c>AIMESH_OPENAI_DEPLOYMENT=true</c>) add the deployment <c>openai</c>, which
/// serves any model the caller names. The key itself is read from the secret store
/// (<c>openai-api-key</c>; in embedded mode that is the OPENAI_API_KEY variable).
/// </summary>
internal sealed class EnvironmentDeployments(IConfiguration configuration) : IPostConfigureOptions<ProviderCatalogOptions>
{
    public const string OpenAiId = "openai";

    public void PostConfigure(string? name, ProviderCatalogOptions options)
    {
        var key = configuration["OPENAI_API_KEY"];
        var baseUrl = configuration["OPENAI_BASE_URL"];
        var requested = string.Equals(configuration["AIMESH_OPENAI_DEPLOYMENT"], "true", StringComparison.OrdinalIgnoreCase);
        if ((string.IsNullOrEmpty(key) && string.IsNullOrEmpty(baseUrl) && !requested) || options.Deployments.Any(d => d.Id == OpenAiId))
        {
            return;
        }

        options.Deployments.Add(new DeploymentOptions
        {
            Id = OpenAiId,
            Provider = ProviderTypes.OpenAi,
            BaseUrl = string.IsNullOrEmpty(baseUrl) ? "https://api.openai.com/v1" : baseUrl,
            Model = DeploymentConfig.AnyModel,
            ApiKeySecret = SecretNames.OpenAiApiKey,
            SettingName = "OPENAI_BASE_URL",
        });
    }
}

/// <summary>Checks the catalog as a whole and reports every problem at once, naming each setting.</summary>
internal sealed class ProviderCatalogValidator : IValidateOptions<ProviderCatalogOptions>
{
    public ValidateOptionsResult Validate(string? name, ProviderCatalogOptions options)
    {
        var errors = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Deployments.Count; i++)
        {
            var d = options.Deployments[i];
            var at = d.SettingName ?? $"{ProviderCatalogOptions.Section}:Deployments:{i}";
            var field = d.SettingName is null ? (Func<string, string>)(f => $"{at}:{f}") : _ => at;
            if (string.IsNullOrWhiteSpace(d.Id))
            {
                errors.Add($"{field("Id")} is required.");
            }
            else if (!ids.Add(d.Id))
            {
                errors.Add($"{field("Id")} '{d.Id}' is used by more than one deployment.");
            }

            if (d.Provider is null || !ProviderTypes.Supported.Contains(d.Provider))
            {
                errors.Add($"{field("Provider")} '{d.Provider}' is not supported; expected one of: {string.Join(", ", ProviderTypes.Supported)}.");
            }

            if (!Uri.TryCreate(d.BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"{field("BaseUrl")} '{d.BaseUrl}' is not an absolute http(s) URL.");
            }

            if (string.IsNullOrWhiteSpace(d.Model))
            {
                errors.Add($"{field("Model")} is required ('*' serves any model the caller names).");
            }

            if (d.InputPricePerMillion < 0 || d.OutputPricePerMillion < 0 || d.CachedInputPricePerMillion < 0)
            {
                errors.Add($"{at}: prices must not be negative.");
            }

            var r = d.Resilience;
            if (r.AttemptTimeout <= TimeSpan.Zero || r.TotalTimeout <= TimeSpan.Zero)
            {
                errors.Add($"{field("Resilience")}: timeouts must be positive.");
            }

            if (r.MaxRetries is < 0 or > 10)
            {
                errors.Add($"{field("Resilience:MaxRetries")} must be between 0 and 10.");
            }

            if (r.BreakerFailureRatio is <= 0 or > 1 || r.BreakerMinimumThroughput < 2
                || r.BreakerSamplingDuration < TimeSpan.FromMilliseconds(500) || r.BreakerBreakDuration < TimeSpan.FromMilliseconds(500))
            {
                errors.Add($"{field("Resilience")}: breaker needs a failure ratio in (0, 1], a minimum throughput of at least 2 and durations of at least 500 ms.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
