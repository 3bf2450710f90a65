using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using AiMesh.BuildingBlocks.State;

namespace AiMesh.Router.Tenancy;

/// <summary>
/// Tenants and virtual keys in the state store. A key is looked up by the SHA-256 of what the
/// caller presents (keys are 256 random bits, so a fast hash is as good as a slow one here).
/// Lookups are cached for <see cref="CacheFor"/>; a revocation clears this router's cache at
/// once, other router replicas see it within that time.
/// </summary>
public sealed class TenantDirectory(IStateStore state, TimeProvider time)
{
    public const string KeyPrefix = "sk-aimesh-";
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(2);
    private const string TenantIndexKey = "tenants||index";
    private readonly ConcurrentDictionary<string, (VirtualKey? Key, Tenant? Tenant, DateTimeOffset Until)> _lookups = new(StringComparer.Ordinal);

    public static string Hash(string presented) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(presented)));

    private static string TenantKey(string id) => $"tenants||{id}";

    private static string TenantKeysKey(string id) => $"tenants||{id}||keys";

    private static string KeyByHash(string hash) => $"keys||hash||{hash}";

    private static string KeyById(string id) => $"keys||id||{id}";

    /// <summary>The usable key and its tenant for a presented secret, or null.</summary>
    public async ValueTask<(VirtualKey Key, Tenant Tenant)?> FindAsync(string presented, CancellationToken cancellationToken)
    {
        if (!presented.StartsWith(KeyPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var hash = Hash(presented);
        var now = time.GetUtcNow();
        if (!_lookups.TryGetValue(hash, out var cached) || cached.Until <= now)
        {
            var key = (await state.GetAsync<VirtualKey>(KeyByHash(hash), cancellationToken))?.Value;
            var tenant = key is null ? null : await GetTenantAsync(key.TenantId, cancellationToken);
            cached = (key, tenant, now + CacheFor);
            _lookups[hash] = cached;
        }

        return cached is { Key: { } found, Tenant: { } owner } && found.IsUsable(now) ? (found, owner) : null;
    }

    public async Task<Tenant?> GetTenantAsync(string id, CancellationToken cancellationToken) =>
        (await state.GetAsync<Tenant>(TenantKey(id), cancellationToken))?.Value;

    public async Task<IReadOnlyList<Tenant>> ListTenantsAsync(CancellationToken cancellationToken)
    {
        var ids = (await state.GetAsync<List<string>>(TenantIndexKey, cancellationToken))?.Value ?? [];
        var tenants = new List<Tenant>();
        foreach (var id in ids)
        {
            if (await GetTenantAsync(id, cancellationToken) is { } tenant)
            {
                tenants.Add(tenant);
            }
        }

        return tenants;
    }

    /// <summary>Creates a tenant; false when the id is taken.</summary>
    public async Task<bool> CreateTenantAsync(Tenant tenant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        if (!await state.TrySaveAsync(TenantKey(tenant.Id), tenant, StateETag.MustNotExist, ttl: null, cancellationToken))
        {
            return false;
        }

        await UpdateListAsync(TenantIndexKey, list => list.Add(tenant.Id), cancellationToken);
        return true;
    }

    public async Task<bool> UpdateTenantAsync(Tenant tenant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        var current = await state.GetAsync<Tenant>(TenantKey(tenant.Id), cancellationToken);
        if (current is null || !await state.TrySaveAsync(TenantKey(tenant.Id), tenant, current.ETag, ttl: null, cancellationToken))
        {
            return false;
        }

        _lookups.Clear();
        return true;
    }

    /// <summary>Deletes a tenant and revokes every key it has.</summary>
    public async Task<bool> DeleteTenantAsync(string id, CancellationToken cancellationToken)
    {
        if (await GetTenantAsync(id, cancellationToken) is null)
        {
            return false;
        }

        foreach (var key in await ListKeysAsync(id, cancellationToken))
        {
            await RevokeKeyAsync(key.Id, cancellationToken);
        }

        await state.TryDeleteAsync(TenantKey(id), etag: null, cancellationToken);
        await UpdateListAsync(TenantIndexKey, list => list.Remove(id), cancellationToken);
        _lookups.Clear();
        return true;
    }

    public async Task<CreatedKey> CreateKeyAsync(string tenantId, string? name, IReadOnlyList<string> allowedModels, Contracts.SubjectLimits? limits, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        var secret = KeyPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var hash = Hash(secret);
        var key = new VirtualKey($"key_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}", tenantId, name, hash,
            secret[..(KeyPrefix.Length + 4)], secret[^4..], allowedModels, limits, time.GetUtcNow(), expiresAt, RevokedAt: null);
        await state.TrySaveAsync(KeyByHash(hash), key, StateETag.MustNotExist, ttl: null, cancellationToken);
        await state.TrySaveAsync(KeyById(key.Id), hash, StateETag.MustNotExist, ttl: null, cancellationToken);
        await UpdateListAsync(TenantKeysKey(tenantId), list => list.Add(key.Id), cancellationToken);
        return new CreatedKey(secret, KeyView.Of(key));
    }

    public async Task<IReadOnlyList<VirtualKey>> ListKeysAsync(string tenantId, CancellationToken cancellationToken)
    {
        var ids = (await state.GetAsync<List<string>>(TenantKeysKey(tenantId), cancellationToken))?.Value ?? [];
        var keys = new List<VirtualKey>();
        foreach (var id in ids)
        {
            if (await GetKeyAsync(id, cancellationToken) is { } key)
            {
                keys.Add(key.Value);
            }
        }

        return keys;
    }

    /// <summary>Revokes a key at once (this router's cache included); false when there is no such key.</summary>
    public async Task<VirtualKey?> RevokeKeyAsync(string keyId, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            if (await GetKeyAsync(keyId, cancellationToken) is not { } found)
            {
                return null;
            }

            var revoked = found.Value with { RevokedAt = found.Value.RevokedAt ?? time.GetUtcNow() };
            if (await state.TrySaveAsync(KeyByHash(found.Value.Hash), revoked, found.ETag, ttl: null, cancellationToken))
            {
                _lookups.TryRemove(found.Value.Hash, out _);
                return revoked;
            }
        }

        throw new InvalidOperationException($"Key {keyId} could not be revoked: too many concurrent writers.");
    }

    /// <summary>Whether a key with this id was ever issued (revoked and expired ones included).</summary>
    public async Task<bool> KeyExistsAsync(string keyId, CancellationToken cancellationToken) =>
        await GetKeyAsync(keyId, cancellationToken) is not null;

    private async Task<StateItem<VirtualKey>?> GetKeyAsync(string keyId, CancellationToken cancellationToken)
    {
        var hash = (await state.GetAsync<string>(KeyById(keyId), cancellationToken))?.Value;
        return hash is null ? null : await state.GetAsync<VirtualKey>(KeyByHash(hash), cancellationToken);
    }

    private async Task UpdateListAsync(string key, Action<List<string>> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var current = await state.GetAsync<List<string>>(key, cancellationToken);
            var list = current?.Value ?? [];
            change(list);
            if (await state.TrySaveAsync(key, list, current?.ETag ?? StateETag.MustNotExist, ttl: null, cancellationToken))
            {
                return;
            }
        }

        throw new InvalidOperationException($"'{key}' could not be updated: too many concurrent writers.");
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
