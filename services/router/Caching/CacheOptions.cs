namespace AiMesh.Router.Caching;

/// <summary>The response cache (section <c>AiMesh:Cache</c>).</summary>
public sealed class CacheOptions
{
    public const string Section = "AiMesh:Cache";

    /// <value>Defaults to true.</value>
    public bool Enabled { get; set; } = true;

    /// <summary>How long an answer is kept; zero turns caching off.</summary>
    /// <value>Defaults to 1 hour.</value>
    public TimeSpan DefaultTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Also cache requests whose answer may vary (temperature above 0, or unset: providers default to 1).</summary>
    /// <value>Defaults to false.</value>
    public bool CacheNonDeterministic { get; set; }

    /// <summary>TTL per model or alias, e.g. <c>Aliases:gpt-4o-mini:Ttl</c>.</summary>
    public Dictionary<string, CacheScope> Aliases { get; set; } = new(StringComparer.Ordinal);

    /// <summary>TTL per tenant; wins over the alias's.</summary>
    public Dictionary<string, CacheScope> Tenants { get; set; } = new(StringComparer.Ordinal);

    public TimeSpan TtlFor(string tenant, string model) =>
        Tenants.GetValueOrDefault(tenant)?.Ttl ?? Aliases.GetValueOrDefault(model)?.Ttl ?? DefaultTtl;
}

public sealed class CacheScope
{
    public TimeSpan? Ttl { get; set; }
}
