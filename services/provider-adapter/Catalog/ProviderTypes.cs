using AiMesh.Contracts;

namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>The provider types a deployment may name, and what each one defaults to.</summary>
public static class ProviderTypes
{
    public const string OpenAi = "openai";
    public const string OpenAiCompatible = "openai-compatible";
    public const string AzureOpenAi = "azure-openai";
    public const string Anthropic = "anthropic";
    public const string Gemini = "gemini";
    public const string Ollama = "ollama";

    /// <summary>The Azure OpenAI data-plane inference API version used when a deployment names none (the latest GA).</summary>
    public const string DefaultAzureApiVersion = "2024-10-21";

    public static readonly IReadOnlySet<string> Supported = new HashSet<string>(StringComparer.Ordinal)
    {
        OpenAi, OpenAiCompatible, AzureOpenAi, Anthropic, Gemini, Ollama,
    };

    /// <summary>The provider's public endpoint, used when a deployment names no BaseUrl; null when one is required.</summary>
    public static string? DefaultBaseUrl(string? provider) => provider switch
    {
        OpenAi => "https://api.openai.com/v1",
        Anthropic => "https://api.anthropic.com",
        Gemini => "https://generativelanguage.googleapis.com",
        Ollama => "http://127.0.0.1:11434",
        _ => null,
    };

    /// <summary>
    /// What a deployment can do unless configured otherwise. The router routes on these, so an unknown
    /// answer is "yes": a pass-through deployment (<c>*</c>) claims vision, tools and JSON mode and no context
    /// limit, and lets the provider refuse what its model cannot do. A named model gets its provider type's
    /// defaults: embeddings for an embedding model's name (it contains "embed"), vision for Ollama only for
    /// the names of vision model families, the context window of well-known models.
    /// </summary>
    public static DeploymentCapabilities DefaultCapabilities(string provider, string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var embedding = model.Contains("embed", StringComparison.OrdinalIgnoreCase);
        if (model == DeploymentConfig.AnyModel)
        {
            return new(Vision: true, Tools: true, JsonMode: true, ContextWindow: null, Embeddings: provider != Anthropic);
        }

        return provider switch
        {
            OpenAi or AzureOpenAi => new(!embedding, !embedding, !embedding, KnownContextWindow(model), embedding),
            // Anthropic has no native JSON mode: AiMesh asks for JSON in the system prompt instead.
            Anthropic => new(Vision: true, Tools: true, JsonMode: true, ContextWindow: 200_000, Embeddings: false),
            Gemini => new(!embedding, !embedding, !embedding, embedding ? 2_048 : 1_048_576, embedding),
            Ollama => new(!embedding && OllamaVisionFamilies.Any(f => model.Contains(f, StringComparison.OrdinalIgnoreCase)), !embedding, !embedding, null, embedding),
            _ => new(!embedding, !embedding, !embedding, null, embedding),
        };
    }

    private static readonly string[] OllamaVisionFamilies = ["llava", "vision", "vl", "moondream", "minicpm-v", "llama4", "gemma3", "mistral-small3"];

    private static readonly (string Prefix, int Tokens)[] ContextWindows =
    [
        ("gpt-4o", 128_000), ("gpt-4.1", 1_047_576), ("gpt-5", 400_000), ("o3", 200_000), ("o4-mini", 200_000), ("text-embedding-3", 8_191),
    ];

    /// <summary>The context window of a well-known OpenAI model (longest prefix), else null (unknown: no limit applied).</summary>
    public static int? KnownContextWindow(string model) =>
        ContextWindows.Where(c => model.StartsWith(c.Prefix, StringComparison.OrdinalIgnoreCase))
            .OrderByDescending(c => c.Prefix.Length)
            .Select(c => (int?)c.Tokens)
            .FirstOrDefault();
}
