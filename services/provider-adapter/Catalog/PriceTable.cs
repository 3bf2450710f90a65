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
    private static readonly (string Prefix, ModelPrice Price)[] Known =
    [
        ("gpt-4o-mini", new ModelPrice(0.15m, 0.60m, 0.075m)),
        ("gpt-4o", new ModelPrice(2.50m, 10.00m, 1.25m)),
        ("gpt-4.1-nano", new ModelPrice(0.10m, 0.40m, 0.025m)),
        ("gpt-4.1-mini", new ModelPrice(0.40m, 1.60m, 0.10m)),
        ("gpt-4.1", new ModelPrice(2.00m, 8.00m, 0.50m)),
        ("gpt-5-nano", new ModelPrice(0.05m, 0.40m, 0.005m)),
        ("gpt-5-mini", new ModelPrice(0.25m, 2.00m, 0.025m)),
        ("gpt-5", new ModelPrice(1.25m, 10.00m, 0.125m)),
        ("o4-mini", new ModelPrice(1.10m, 4.40m, 0.275m)),
        ("o3", new ModelPrice(2.00m, 8.00m, 0.50m)),
        ("text-embedding-3-small", new ModelPrice(0.02m, 0m, 0m)),
        ("text-embedding-3-large", new ModelPrice(0.13m, 0m, 0m)),
    ];

    /// <summary>The highest input and output prices of the table: a safe estimate for an unknown model.</summary>
    public static ModelPrice Highest { get; } = new(Known.Max(k => k.Price.Input), Known.Max(k => k.Price.Output), Known.Max(k => k.Price.CachedInput));

    public static ModelPrice? Find(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ModelPrice? best = null;
        var bestLength = -1;
        foreach (var (prefix, price) in Known)
        {
            if (model.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && prefix.Length > bestLength)
            {
                best = price;
                bestLength = prefix.Length;
            }
        }

        return best;
    }
}
