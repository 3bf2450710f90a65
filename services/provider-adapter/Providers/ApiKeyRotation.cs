using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// Rotates a deployment's API keys round robin. A key that answers 401 leaves the rotation for the
/// deployment's <see cref="DeploymentConfig.KeyDisableDuration"/> (a warning names the secret, never the
/// key) — or until its secret holds a different key, since secrets are re-read every 30 seconds.
/// </summary>
public sealed partial class ApiKeyRotation(ApiKeyProvider keys, TimeProvider time, ILogger<ApiKeyRotation> logger)
{
    private readonly ConcurrentDictionary<string, StrongBox> _next = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Deployment, string Secret), (DateTimeOffset Until, string Fingerprint)> _disabled = new();

    /// <summary>The keys to try for one request, in order: the rotation's next key first, keys out of rotation left out (unless all are).</summary>
    public async ValueTask<IReadOnlyList<RotatedKey>> OrderAsync(DeploymentConfig deployment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var secrets = deployment.ApiKeySecrets;
        if (secrets.Count <= 1)
        {
            return [new RotatedKey(deployment.ApiKeySecret, await keys.GetAsync(deployment.ApiKeySecret, cancellationToken))];
        }

        var counter = _next.GetOrAdd(deployment.Id, _ => new StrongBox());
        var start = (int)((uint)Interlocked.Increment(ref counter.Value) % (uint)secrets.Count);
        var now = time.GetUtcNow();
        var all = new List<(RotatedKey Key, bool Disabled)>(secrets.Count);
        for (var i = 0; i < secrets.Count; i++)
        {
            var secret = secrets[(start + i) % secrets.Count];
            var key = await keys.GetAsync(secret, cancellationToken);
            if (key is null)
            {
                continue;
            }

            var disabled = _disabled.TryGetValue((deployment.Id, secret), out var entry) && entry.Until > now && entry.Fingerprint == Fingerprint(key);
            all.Add((new RotatedKey(secret, key), disabled));
        }

        var active = all.Where(k => !k.Disabled).Select(k => k.Key).ToList();
        return active.Count > 0 ? active : all.Count > 0 ? all.Select(k => k.Key).ToList() : [new RotatedKey(null, null)];
    }

    /// <summary>The key answered 401: out of rotation (when the deployment has others). Returns whether it was rotated out.</summary>
    public bool Reject(DeploymentConfig deployment, RotatedKey key)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(key);
        if (deployment.ApiKeySecrets.Count <= 1 || key.Secret is null || key.Key is null)
        {
            return false;
        }

        _disabled[(deployment.Id, key.Secret)] = (time.GetUtcNow() + deployment.KeyDisableDuration, Fingerprint(key.Key));
        LogKeyRejected(deployment.Id, key.Secret, deployment.KeyDisableDuration.TotalSeconds);
        return true;
    }

    /// <summary>Secret names of the deployment's keys currently out of rotation, or null when none is.</summary>
    public IReadOnlyList<string>? DisabledKeys(string deploymentId)
    {
        var now = time.GetUtcNow();
        var names = _disabled.Where(d => d.Key.Deployment == deploymentId && d.Value.Until > now).Select(d => d.Key.Secret).Order(StringComparer.Ordinal).ToList();
        return names.Count > 0 ? names : null;
    }

    private static string Fingerprint(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private sealed class StrongBox
    {
        public int Value = -1;
    }

    [LoggerMessage(EventId = 3010, EventName = "api_key_rejected", Level = LogLevel.Warning,
        Message = "Deployment {DeploymentId}: the key in secret {SecretName} was rejected (401); out of rotation for {Seconds} s")]
    private partial void LogKeyRejected(string deploymentId, string secretName, double seconds);
}

/// <summary>One key of a deployment: the secret's name (for reports) and the key itself (never logged).</summary>
public sealed record RotatedKey(string? Secret, string? Key);
