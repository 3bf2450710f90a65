namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>USD per million tokens.</summary>
public sealed record ModelPrice(decimal Input, decimal Output, decimal CachedInput)
{
    public static readonly ModelPrice Unknown = new(0, 0, 0);

    public decimal Cost(int promptTokens, int cachedTokens, int completionTokens)
    {
        var uncached = Math.Max(0, promptTokens - cachedTokens);
        return ((uncached * Input) + (cachedTokens * CachedInput) + (completionTokens * Output)) / 1_000_000m;
    }
}

/// <summary>List prices of well-known models, used when a deployment names none (longest prefix wins).</summary>
public static class PriceTable
{
    private const string OpenAiFamily = "openai";
    private const string AnthropicFamily = "anthropic";
    private const string GeminiFamily = "gemini";

    private static readonly (string Family, string Prefix, ModelPrice Price)[] Known =
    [
        (OpenAiFamily, "gpt-4o-mini", new ModelPrice(0.15m, 0.60m, 0.075m)),
        (OpenAiFamily, "gpt-4o", new ModelPrice(2.50m, 10.00m, 1.25m)),
        (OpenAiFamily, "gpt-4.1-nano", new ModelPrice(0.10m, 0.40m, 0.025m)),
        (OpenAiFamily, "gpt-4.1-mini", new ModelPrice(0.40m, 1.60m, 0.10m)),
        (OpenAiFamily, "gpt-4.1", new ModelPrice(2.00m, 8.00m, 0.50m)),
        (OpenAiFamily, "gpt-5-nano", new ModelPrice(0.05m, 0.40m, 0.005m)),
        (OpenAiFamily, "gpt-5-mini", new ModelPrice(0.25m, 2.00m, 0.025m)),
        (OpenAiFamily, "gpt-5", new ModelPrice(1.25m, 10.00m, 0.125m)),
        (OpenAiFamily, "o4-mini", new ModelPrice(1.10m, 4.40m, 0.275m)),
        (OpenAiFamily, "o3", new ModelPrice(2.00m, 8.00m, 0.50m)),
        (OpenAiFamily, "text-embedding-3-small", new ModelPrice(0.02m, 0m, 0m)),
        (OpenAiFamily, "text-embedding-3-large", new ModelPrice(0.13m, 0m, 0m)),
        (AnthropicFamily, "claude-opus-4-5", new ModelPrice(5.00m, 25.00m, 0.50m)),
        (AnthropicFamily, "claude-opus-4", new ModelPrice(15.00m, 75.00m, 1.50m)),
        (AnthropicFamily, "claude-sonnet-4", new ModelPrice(3.00m, 15.00m, 0.30m)),
        (AnthropicFamily, "claude-haiku-4-5", new ModelPrice(1.00m, 5.00m, 0.10m)),
        (AnthropicFamily, "claude-3-7-sonnet", new ModelPrice(3.00m, 15.00m, 0.30m)),
        (AnthropicFamily, "claude-3-5-sonnet", new ModelPrice(3.00m, 15.00m, 0.30m)),
        (AnthropicFamily, "claude-3-5-haiku", new ModelPrice(0.80m, 4.00m, 0.08m)),
        (GeminiFamily, "gemini-2.5-pro", new ModelPrice(1.25m, 10.00m, 0.125m)),
        (GeminiFamily, "gemini-2.5-flash-lite", new ModelPrice(0.10m, 0.40m, 0.01m)),
        (GeminiFamily, "gemini-2.5-flash", new ModelPrice(0.30m, 2.50m, 0.03m)),
        (GeminiFamily, "gemini-2.0-flash-lite", new ModelPrice(0.075m, 0.30m, 0.075m)),
        (GeminiFamily, "gemini-2.0-flash", new ModelPrice(0.10m, 0.40m, 0.025m)),
    ];

    /// <summary>The highest input and output prices of OpenAI's models: a safe estimate for an unknown OpenAI model.</summary>
    public static ModelPrice Highest { get; } = HighestOf(OpenAiFamily);

    /// <summary>
    /// The highest prices a pass-through deployment of <paramref name="provider"/> may charge (for budget
    /// reservations): its family's highest list price; zero for a local server (Ollama) or an unknown family.
    /// </summary>
    public static ModelPrice HighestFor(string provider) => provider switch
    {
        ProviderTypes.OpenAi or ProviderTypes.AzureOpenAi or ProviderTypes.OpenAiCompatible => Highest,
        ProviderTypes.Anthropic => HighestOf(AnthropicFamily),
        ProviderTypes.Gemini => HighestOf(GeminiFamily),
        _ => ModelPrice.Unknown,
    };

    public static ModelPrice? Find(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ModelPrice? best = null;
        var bestLength = -1;
        foreach (var (_, prefix, price) in Known)
        {
            if (model.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && prefix.Length > bestLength)
            {
                best = price;
                bestLength = prefix.Length;
            }
        }

        return best;
    }

    private static ModelPrice HighestOf(string family)
    {
        var prices = Known.Where(k => k.Family == family).Select(k => k.Price).ToList();
        return new ModelPrice(prices.Max(p => p.Input), prices.Max(p => p.Output), prices.Max(p => p.CachedInput));
    }
}
