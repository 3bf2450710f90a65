using System.Collections.Frozen;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>The wire format of each provider type.</summary>
public sealed class ProviderWires
{
    private readonly FrozenDictionary<string, IProviderWire> _byProvider = new Dictionary<string, IProviderWire>(StringComparer.Ordinal)
    {
        [ProviderTypes.OpenAi] = new OpenAiWire(),
        [ProviderTypes.OpenAiCompatible] = new OpenAiWire(),
        [ProviderTypes.AzureOpenAi] = new AzureOpenAiWire(),
        [ProviderTypes.Anthropic] = new AnthropicWire(),
        [ProviderTypes.Gemini] = new GeminiWire(),
        [ProviderTypes.Ollama] = new OllamaWire(),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The wire for a provider type (the catalog admits only supported ones).</summary>
    public IProviderWire For(string provider) =>
        _byProvider.TryGetValue(provider, out var wire) ? wire : throw new ArgumentException($"No wire format for provider '{provider}'.", nameof(provider));
}
