using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.Secrets;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// API keys from the secret store, cached briefly so a rotated secret is picked up without a restart;
/// keys added through the admin API come decrypted from <see cref="Catalog.ManagedKeys"/>.
/// </summary>
public sealed class ApiKeyProvider(ISecretStore secrets, Catalog.ManagedKeys managed, TimeProvider time)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<string, (string? Key, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    public async ValueTask<string?> GetAsync(string? secretName, CancellationToken cancellationToken)
    {
        if (secretName is null)
        {
            return null;
        }

        if (Catalog.ManagedKeys.IsManaged(secretName))
        {
            return managed.Find(secretName);
        }

        var now = time.GetUtcNow();
        if (_cache.TryGetValue(secretName, out var cached) && cached.Until > now)
        {
            return cached.Key;
        }

        var key = await secrets.GetSecretAsync(secretName, cancellationToken);
        _cache[secretName] = (string.IsNullOrEmpty(key) ? null : key, now + CacheFor);
        return string.IsNullOrEmpty(key) ? null : key;
    }
}
