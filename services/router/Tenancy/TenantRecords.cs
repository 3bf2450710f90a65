using AiMesh.Contracts;

namespace AiMesh.Router.Tenancy;

/// <summary>
/// A tenant: who pays, which models it may use, its own limits and content policy (null: the
/// configured defaults).
/// </summary>
public sealed record Tenant(
    string Id,
    string? Name,
    IReadOnlyList<string> AllowedModels,
    SubjectLimits? Limits,
    DateTimeOffset CreatedAt,
    ContentPolicy? ContentPolicy = null);

/// <summary>
/// A virtual key. Only its SHA-256 is stored; <see cref="Prefix"/> and <see cref="Last4"/> let
/// people recognise it in listings without revealing it.
/// </summary>
public sealed record VirtualKey(
    string Id,
    string TenantId,
    string? Name,
    string Hash,
    string Prefix,
    string Last4,
    IReadOnlyList<string> AllowedModels,
    SubjectLimits? Limits,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt)
{
    public bool IsUsable(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

/// <summary>What an admin sees of a key: never the key or its hash.</summary>
public sealed record KeyView(
    string Id,
    string TenantId,
    string? Name,
    string Masked,
    IReadOnlyList<string> AllowedModels,
    SubjectLimits? Limits,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt)
{
    public static KeyView Of(VirtualKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new(key.Id, key.TenantId, key.Name, $"{key.Prefix}…{key.Last4}", key.AllowedModels, key.Limits, key.CreatedAt, key.ExpiresAt, key.RevokedAt);
    }
}

/// <summary>A key as created: the only time the key itself is shown.</summary>
public sealed record CreatedKey(string Key, KeyView Details);
