using System.Collections.Frozen;
using System.Text.RegularExpressions;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>
/// The validated deployments, by id and in priority order: the configured ones (settings) and the
/// ones added through the admin API, swapped in as one snapshot when the latter change.
/// </summary>
public sealed class ProviderCatalog
{
    private volatile Snapshot _snapshot;

    public ProviderCatalog(IOptions<ProviderCatalogOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Configured = options.Value.Deployments.Select(Freeze).OrderBy(d => d.Priority).ToList();
        _snapshot = new Snapshot(Configured);
    }

    /// <summary>The deployments from settings, as configured (before any admin enable/disable).</summary>
    public IReadOnlyList<DeploymentConfig> Configured { get; }

    public IReadOnlyList<DeploymentConfig> Deployments => _snapshot.Deployments;

    public DeploymentConfig? Find(string id) => _snapshot.ById.GetValueOrDefault(id);

    public bool IsConfigured(string id) => Configured.Any(d => d.Id == id);

    /// <summary>Replaces the runtime part of the catalog: configured deployments (with their admin enable/disable applied) and admin-managed ones.</summary>
    public void Replace(IEnumerable<DeploymentConfig> deployments)
    {
        ArgumentNullException.ThrowIfNull(deployments);
        _snapshot = new Snapshot(deployments.OrderBy(d => d.Priority).ToList());
    }

    private sealed class Snapshot(IReadOnlyList<DeploymentConfig> deployments)
    {
        public IReadOnlyList<DeploymentConfig> Deployments { get; } = deployments;
        public FrozenDictionary<string, DeploymentConfig> ById { get; } = deployments.ToFrozenDictionary(d => d.Id, StringComparer.Ordinal);
    }

    /// <summary>A validated <see cref="DeploymentOptions"/> as the immutable config the service runs on.</summary>
    public static DeploymentConfig Freeze(DeploymentOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var price = o.InputPricePerMillion is null && o.OutputPricePerMillion is null
            ? null
            : new ModelPrice(o.InputPricePerMillion ?? 0, o.OutputPricePerMillion ?? 0, o.CachedInputPricePerMillion ?? o.InputPricePerMillion ?? 0);
        var baseUrl = string.IsNullOrWhiteSpace(o.BaseUrl) ? ProviderTypes.DefaultBaseUrl(o.Provider)! : o.BaseUrl.Trim();
        var defaults = ProviderTypes.DefaultCapabilities(o.Provider!, o.Model!);
        var c = o.Capabilities;
        var secrets = new[] { o.ApiKeySecret }.Concat(o.ApiKeySecrets)
            .Where(s => !string.IsNullOrWhiteSpace(s)).Select(s => s!.Trim()).Distinct(StringComparer.Ordinal).ToArray();
        return new DeploymentConfig(
            o.Id!,
            o.Provider!,
            new Uri(baseUrl.TrimEnd('/') + "/"),
            o.Model!,
            o.Aliases.ToArray(),
            secrets.FirstOrDefault(),
            o.Priority,
            o.Enabled,
            price,
            o.Resilience)
        {
            Weight = o.Weight,
            ApiKeySecrets = secrets,
            KeyDisableDuration = o.KeyDisableDuration > TimeSpan.Zero ? o.KeyDisableDuration : TimeSpan.FromMinutes(5),
            ApiVersion = string.IsNullOrWhiteSpace(o.ApiVersion) ? ProviderTypes.DefaultAzureApiVersion : o.ApiVersion.Trim(),
            AzureDeployment = string.IsNullOrWhiteSpace(o.AzureDeployment) ? null : o.AzureDeployment.Trim(),
            Capabilities = new DeploymentCapabilities(
                c.Vision ?? defaults.Vision,
                c.Tools ?? defaults.Tools,
                c.JsonMode ?? defaults.JsonMode,
                c.ContextWindow ?? defaults.ContextWindow,
                c.Embeddings ?? defaults.Embeddings),
        };
    }
}

/// <summary>
/// The providers' own conventional variables configure a deployment each with no file at all, serving
/// any model the caller names (<c>*</c>):
/// <list type="bullet">
/// <item><c>OPENAI_API_KEY</c> and/or <c>OPENAI_BASE_URL</c> → deployment <c>openai</c>;</item>
/// <item><c>AZURE_OPENAI_ENDPOINT</c> (+ <c>AZURE_OPENAI_API_KEY</c>, <c>AZURE_OPENAI_DEPLOYMENT</c>,
/// <c>AZURE_OPENAI_API_VERSION</c>) → <c>azure-openai</c>, serving the named Azure deployment (else the caller's model name);</item>
/// <item><c>ANTHROPIC_API_KEY</c> and/or <c>ANTHROPIC_BASE_URL</c> → <c>anthropic</c>;</item>
/// <item><c>GEMINI_API_KEY</c> and/or <c>GEMINI_BASE_URL</c> → <c>gemini</c>;</item>
/// <item><c>OLLAMA_HOST</c> → <c>ollama</c> (no key).</item>
/// </list>
/// In Dapr mode, where keys live in the secret store, <c>AIMESH_OPENAI_DEPLOYMENT=true</c>,
/// <c>AIMESH_ANTHROPIC_DEPLOYMENT=true</c> and <c>AIMESH_GEMINI_DEPLOYMENT=true</c> add the deployment
/// without the key variable. Keys are always read from the secret store (<c>openai-api-key</c>,
/// <c>azure-openai-api-key</c>, <c>anthropic-api-key</c>, <c>gemini-api-key</c>; in embedded mode these are
/// the variables themselves). A configured deployment with the same id wins.
/// </summary>
internal sealed partial class EnvironmentDeployments(IConfiguration configuration) : IPostConfigureOptions<ProviderCatalogOptions>
{
    public const string OpenAiId = "openai";
    public const string AzureOpenAiId = "azure-openai";
    public const string AnthropicId = "anthropic";
    public const string GeminiId = "gemini";
    public const string OllamaId = "ollama";

    public void PostConfigure(string? name, ProviderCatalogOptions options)
    {
        if (Wanted("OPENAI_API_KEY", "OPENAI_BASE_URL", "AIMESH_OPENAI_DEPLOYMENT"))
        {
            Add(options, new DeploymentOptions
            {
                Id = OpenAiId,
                Provider = ProviderTypes.OpenAi,
                BaseUrl = Value("OPENAI_BASE_URL") ?? ProviderTypes.DefaultBaseUrl(ProviderTypes.OpenAi),
                Model = DeploymentConfig.AnyModel,
                ApiKeySecret = SecretNames.OpenAiApiKey,
                SettingName = "OPENAI_BASE_URL",
            });
        }

        if (Value("AZURE_OPENAI_ENDPOINT") is not null || Value("AZURE_OPENAI_API_KEY") is not null)
        {
            Add(options, new DeploymentOptions
            {
                Id = AzureOpenAiId,
                Provider = ProviderTypes.AzureOpenAi,
                BaseUrl = Value("AZURE_OPENAI_ENDPOINT"),
                Model = Value("AZURE_OPENAI_DEPLOYMENT") ?? DeploymentConfig.AnyModel,
                ApiVersion = Value("AZURE_OPENAI_API_VERSION"),
                ApiKeySecret = SecretNames.AzureOpenAiApiKey,
                SettingName = "AZURE_OPENAI_ENDPOINT",
                FieldSettings = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["BaseUrl"] = "AZURE_OPENAI_ENDPOINT",
                    ["Model"] = "AZURE_OPENAI_DEPLOYMENT",
                    ["ApiVersion"] = "AZURE_OPENAI_API_VERSION",
                },
            });
        }

        if (Wanted("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "AIMESH_ANTHROPIC_DEPLOYMENT"))
        {
            Add(options, new DeploymentOptions
            {
                Id = AnthropicId,
                Provider = ProviderTypes.Anthropic,
                BaseUrl = Value("ANTHROPIC_BASE_URL") ?? ProviderTypes.DefaultBaseUrl(ProviderTypes.Anthropic),
                Model = DeploymentConfig.AnyModel,
                ApiKeySecret = SecretNames.AnthropicApiKey,
                SettingName = "ANTHROPIC_BASE_URL",
            });
        }

        if (Wanted("GEMINI_API_KEY", "GEMINI_BASE_URL", "AIMESH_GEMINI_DEPLOYMENT"))
        {
            Add(options, new DeploymentOptions
            {
                Id = GeminiId,
                Provider = ProviderTypes.Gemini,
                BaseUrl = Value("GEMINI_BASE_URL") ?? ProviderTypes.DefaultBaseUrl(ProviderTypes.Gemini),
                Model = DeploymentConfig.AnyModel,
                ApiKeySecret = SecretNames.GeminiApiKey,
                SettingName = "GEMINI_BASE_URL",
            });
        }

        if (Value("OLLAMA_HOST") is { } ollamaHost)
        {
            Add(options, new DeploymentOptions
            {
                Id = OllamaId,
                Provider = ProviderTypes.Ollama,
                BaseUrl = OllamaBaseUrl(ollamaHost),
                Model = DeploymentConfig.AnyModel,
                SettingName = "OLLAMA_HOST",
            });
        }
    }

    /// <summary>
    /// OLLAMA_HOST as the Ollama clients read it: <c>host</c>, <c>host:port</c> or a URL; the scheme
    /// defaults to http, the port to 11434 (443 for https), and the bind-all address 0.0.0.0 means this machine.
    /// </summary>
    public static string OllamaBaseUrl(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var value = host.Trim();
        var schemeEnd = value.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            value = "http://" + value;
            schemeEnd = 4;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri))
        {
            return host;
        }

        var authority = value[(schemeEnd + 3)..].Split('/', 2)[0];
        var builder = new UriBuilder(uri);
        if (!ExplicitPort().IsMatch(authority))
        {
            builder.Port = uri.Scheme == Uri.UriSchemeHttps ? 443 : 11434;
        }

        if (builder.Host is "0.0.0.0" or "[::]")
        {
            builder.Host = "127.0.0.1";
        }

        return builder.Uri.ToString().TrimEnd('/');
    }

    private bool Wanted(string keyVariable, string baseUrlVariable, string flagVariable) =>
        Value(keyVariable) is not null || Value(baseUrlVariable) is not null
        || string.Equals(configuration[flagVariable], "true", StringComparison.OrdinalIgnoreCase);

    private string? Value(string name) => configuration[name] is { Length: > 0 } value ? value : null;

    private static void Add(ProviderCatalogOptions options, DeploymentOptions deployment)
    {
        if (!options.Deployments.Any(d => d.Id == deployment.Id))
        {
            options.Deployments.Add(deployment);
        }
    }

    [GeneratedRegex(@":\d+$", RegexOptions.CultureInvariant)]
    private static partial Regex ExplicitPort();
}

/// <summary>Checks the catalog as a whole and reports every problem at once, naming each setting.</summary>
internal sealed partial class ProviderCatalogValidator : IValidateOptions<ProviderCatalogOptions>
{
    public ValidateOptionsResult Validate(string? name, ProviderCatalogOptions options)
    {
        var errors = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Deployments.Count; i++)
        {
            var d = options.Deployments[i];
            var at = d.SettingName ?? $"{ProviderCatalogOptions.Section}:Deployments:{i}";
            string Field(string f) => d.FieldSettings?.GetValueOrDefault(f) ?? (d.SettingName is null ? $"{at}:{f}" : at);
            if (string.IsNullOrWhiteSpace(d.Id))
            {
                errors.Add($"{Field("Id")} is required.");
            }
            else if (!ids.Add(d.Id))
            {
                errors.Add($"{Field("Id")} '{d.Id}' is used by more than one deployment.");
            }

            var supported = d.Provider is not null && ProviderTypes.Supported.Contains(d.Provider);
            if (!supported)
            {
                errors.Add($"{Field("Provider")} '{d.Provider}' is not supported; expected one of: {string.Join(", ", ProviderTypes.Supported)}.");
            }

            if (string.IsNullOrWhiteSpace(d.BaseUrl))
            {
                if (supported && ProviderTypes.DefaultBaseUrl(d.Provider) is null)
                {
                    errors.Add(d.Provider == ProviderTypes.AzureOpenAi
                        ? $"{Field("BaseUrl")} is required for provider '{d.Provider}' (the resource endpoint, e.g. https://NAME.openai.azure.com)."
                        : $"{Field("BaseUrl")} is required for provider '{d.Provider}'.");
                }
            }
            else if (!Uri.TryCreate(d.BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"{Field("BaseUrl")} '{d.BaseUrl}' is not an absolute http(s) URL.");
            }

            if (string.IsNullOrWhiteSpace(d.Model))
            {
                errors.Add($"{Field("Model")} is required ('*' serves any model the caller names).");
            }

            ValidateAzure(d, Field, errors);

            if (d.InputPricePerMillion < 0 || d.OutputPricePerMillion < 0 || d.CachedInputPricePerMillion < 0)
            {
                errors.Add($"{at}: prices must not be negative.");
            }

            if (d.Weight < 0)
            {
                errors.Add($"{Field("Weight")} must not be negative.");
            }

            if (d.Capabilities.ContextWindow is <= 0)
            {
                errors.Add($"{Field("Capabilities:ContextWindow")} must be a positive number of tokens.");
            }

            var r = d.Resilience;
            if (r.AttemptTimeout <= TimeSpan.Zero || r.TotalTimeout <= TimeSpan.Zero)
            {
                errors.Add($"{Field("Resilience")}: timeouts must be positive.");
            }

            if (r.MaxRetries is < 0 or > 10)
            {
                errors.Add($"{Field("Resilience:MaxRetries")} must be between 0 and 10.");
            }

            if (r.BreakerFailureRatio is <= 0 or > 1 || r.BreakerMinimumThroughput < 2
                || r.BreakerSamplingDuration < TimeSpan.FromMilliseconds(500) || r.BreakerBreakDuration < TimeSpan.FromMilliseconds(500))
            {
                errors.Add($"{Field("Resilience")}: breaker needs a failure ratio in (0, 1], a minimum throughput of at least 2 and durations of at least 500 ms.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Whether a name can stand in an Azure deployment URL (letters, digits, '.', '_' and '-', not only dots).</summary>
    public static bool IsAzureDeploymentName(string name) => AzureDeploymentName().IsMatch(name) && name.Trim('.').Length > 0;

    private static void ValidateAzure(DeploymentOptions d, Func<string, string> field, List<string> errors)
    {
        if (d.Provider != ProviderTypes.AzureOpenAi)
        {
            if (!string.IsNullOrWhiteSpace(d.ApiVersion))
            {
                errors.Add($"{field("ApiVersion")} applies only to provider '{ProviderTypes.AzureOpenAi}'.");
            }

            if (!string.IsNullOrWhiteSpace(d.AzureDeployment))
            {
                errors.Add($"{field("AzureDeployment")} applies only to provider '{ProviderTypes.AzureOpenAi}'.");
            }

            return;
        }

        if (!string.IsNullOrWhiteSpace(d.ApiVersion) && !AzureApiVersion().IsMatch(d.ApiVersion.Trim()))
        {
            errors.Add($"{field("ApiVersion")} '{d.ApiVersion}' is not an Azure OpenAI API version (yyyy-MM-dd, yyyy-MM-dd-preview, or v1).");
        }

        if (!string.IsNullOrWhiteSpace(d.AzureDeployment) && !IsAzureDeploymentName(d.AzureDeployment.Trim()))
        {
            errors.Add($"{field("AzureDeployment")} '{d.AzureDeployment}' is not a valid Azure deployment name (letters, digits, '.', '_' and '-').");
        }
        else if (string.IsNullOrWhiteSpace(d.AzureDeployment) && d.Model is { Length: > 0 } model && model != DeploymentConfig.AnyModel && !IsAzureDeploymentName(model))
        {
            errors.Add($"{field("Model")} '{model}' cannot be used as the Azure deployment name; set {field("AzureDeployment")}.");
        }
    }

    [GeneratedRegex(@"^(\d{4}-\d{2}-\d{2}(-preview)?|v1)$", RegexOptions.CultureInvariant)]
    private static partial Regex AzureApiVersion();

    [GeneratedRegex(@"^[A-Za-z0-9._\-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex AzureDeploymentName();
}
