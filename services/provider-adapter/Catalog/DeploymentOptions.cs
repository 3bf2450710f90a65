namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>The provider catalog as configured (section <c>AiMesh:Deployments</c>, a list).</summary>
public sealed class ProviderCatalogOptions
{
    public const string Section = "AiMesh";

    public List<DeploymentOptions> Deployments { get; set; } = [];
}

/// <summary>One deployment as written in configuration; validated and frozen into <see cref="DeploymentConfig"/>.</summary>
public sealed class DeploymentOptions
{
    /// <summary>Unique id, used in headers, metrics and the admin API.</summary>
    public string? Id { get; set; }

    /// <summary>
    /// The provider type: <c>openai</c>, <c>openai-compatible</c>, <c>azure-openai</c>, <c>anthropic</c>,
    /// <c>gemini</c> or <c>ollama</c>.
    /// </summary>
    public string? Provider { get; set; }

    /// <summary>
    /// Base URL of the API, e.g. <c>https://api.openai.com/v1</c>, <c>https://NAME.openai.azure.com</c>,
    /// <c>https://api.anthropic.com</c>. Optional for openai, anthropic, gemini and ollama (their public default).
    /// </summary>
    public string? BaseUrl { get; set; }

    /// <summary>Azure OpenAI only: the API version (default <see cref="ProviderTypes.DefaultAzureApiVersion"/>; <c>v1</c> for the v1 API).</summary>
    public string? ApiVersion { get; set; }

    /// <summary>Azure OpenAI only: the name of the Azure deployment (default: <see cref="Model"/>, or the caller's model for <c>*</c>).</summary>
    public string? AzureDeployment { get; set; }

    /// <summary>What the model can do; unset values take the provider type's defaults.</summary>
    public CapabilityOptions Capabilities { get; set; } = new();

    /// <summary>The provider's model name, or <c>*</c> to serve whatever model the caller names.</summary>
    public string? Model { get; set; }

    /// <summary>Model names callers may use for this deployment besides <see cref="Model"/>.</summary>
    public List<string> Aliases { get; set; } = [];

    /// <summary>Name of the secret that holds the API key (never the key itself). Empty: no key is sent.</summary>
    public string? ApiKeySecret { get; set; }

    /// <summary>
    /// Names of several secrets whose keys rotate round robin (with <see cref="ApiKeySecret"/>, if set, first).
    /// A key that answers 401 leaves the rotation for <see cref="KeyDisableDuration"/> and the request is retried with the next.
    /// </summary>
    public List<string> ApiKeySecrets { get; set; } = [];

    /// <summary>How long a key that answered 401 stays out of the rotation (default 5 minutes).</summary>
    public TimeSpan KeyDisableDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Lower is tried first.</summary>
    public int Priority { get; set; }

    /// <summary>Share of traffic under the router's weighted strategy (default 1; 0 takes none unless others fail).</summary>
    public int Weight { get; set; } = 1;

    public bool Enabled { get; set; } = true;

    /// <summary>USD per million input tokens; null takes the built-in price of the model, if known.</summary>
    public decimal? InputPricePerMillion { get; set; }

    public decimal? OutputPricePerMillion { get; set; }

    public decimal? CachedInputPricePerMillion { get; set; }

    public ResilienceOptions Resilience { get; set; } = new();

    /// <summary>The setting that created this deployment when it did not come from the list (e.g. OPENAI_BASE_URL).</summary>
    internal string? SettingName { get; init; }

    /// <summary>For such a deployment, the setting behind individual fields (e.g. ApiVersion → AZURE_OPENAI_API_VERSION).</summary>
    internal IReadOnlyDictionary<string, string>? FieldSettings { get; init; }
}

/// <summary>A deployment's capabilities as configured; null takes the provider type's default.</summary>
public sealed class CapabilityOptions
{
    /// <summary>Accepts image content parts.</summary>
    public bool? Vision { get; set; }

    /// <summary>Accepts tools (function calling).</summary>
    public bool? Tools { get; set; }

    /// <summary>Honours <c>response_format</c> JSON mode / JSON schema natively.</summary>
    public bool? JsonMode { get; set; }

    /// <summary>Context window in tokens.</summary>
    public int? ContextWindow { get; set; }

    /// <summary>Serves embeddings.</summary>
    public bool? Embeddings { get; set; }
}

/// <summary>Per-deployment resilience (the seeds' defaults).</summary>
public sealed class ResilienceOptions
{
    /// <value>Defaults to 60 s per attempt (an LLM generation can be long).</value>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <value>Defaults to 120 s for all attempts together.</value>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Retries after the first attempt.</summary>
    /// <value>Defaults to 2 (3 attempts in all).</value>
    public int MaxRetries { get; set; } = 2;

    /// <value>Defaults to 1 s, doubled per retry, 10% jitter.</value>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <value>Defaults to 10 s.</value>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Failure ratio over the sampling window that opens the breaker.</summary>
    /// <value>Defaults to 0.5.</value>
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <value>Defaults to 5.</value>
    public int BreakerMinimumThroughput { get; set; } = 5;

    /// <value>Defaults to 30 s.</value>
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <value>Defaults to 60 s.</value>
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(60);
}
