using System.Security.Cryptography;
using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Caching;

/// <summary>A cached answer: the completion as the provider gave it, and who gave it.</summary>
public sealed record CachedCompletion(JsonElement Completion, Usage Usage, string DeploymentId, string Provider);

/// <summary>
/// Exact-match response cache in the state store. The key is a hash of the normalised request
/// (model and every parameter that changes the output; not stream, stream_options or user),
/// scoped to the tenant. Clearing bumps a generation number that is part of every key, since
/// a state store cannot delete by prefix; old entries then expire by their TTL.
/// </summary>
public sealed class ResponseCache(IStateStore state, IOptionsMonitor<CacheOptions> options, TimeProvider time) : IDisposable
{
    public const string GenerationsKey = "cache||generations";
    private static readonly TimeSpan GenerationsRefresh = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private (Generations Value, DateTimeOffset Until)? _generations;

    /// <summary>Whether this request may be answered from, and stored in, the cache.</summary>
    public bool IsCacheable(string tenant, ChatCompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var settings = options.CurrentValue;
        if (!settings.Enabled || settings.TtlFor(tenant, request.Model!) <= TimeSpan.Zero)
        {
            return false;
        }

        return settings.CacheNonDeterministic || request.Temperature == 0;
    }

    public async Task<string> KeyAsync(string tenant, ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var normalised = request with { Stream = null, StreamOptions = null, User = null };
        var hash = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(normalised, AiMeshJson.Options)));
        var generations = await GenerationsAsync(cancellationToken);
        var generation = $"{generations.All}.{generations.Tenants.GetValueOrDefault(tenant)}.{generations.Aliases.GetValueOrDefault(request.Model!)}";
        return $"cache||{tenant}||{request.Model}||{generation}||{hash}";
    }

    public async Task<CachedCompletion?> GetAsync(string key, CancellationToken cancellationToken) =>
        (await state.GetAsync<CachedCompletion>(key, cancellationToken))?.Value;

    public Task SetAsync(string key, string tenant, string model, CachedCompletion completion, CancellationToken cancellationToken) =>
        state.TrySaveAsync(key, completion, etag: null, ttl: options.CurrentValue.TtlFor(tenant, model), cancellationToken);

    /// <summary>Invalidates everything, or one tenant's entries, or one model's/alias's entries.</summary>
    public async Task ClearAsync(string? tenant, string? alias, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var current = await state.GetAsync<Generations>(GenerationsKey, cancellationToken);
            var value = current?.Value ?? new Generations(0, [], []);
            var next = tenant is not null ? value with { Tenants = Bump(value.Tenants, tenant) }
                : alias is not null ? value with { Aliases = Bump(value.Aliases, alias) }
                : value with { All = value.All + 1 };
            if (await state.TrySaveAsync(GenerationsKey, next, current?.ETag ?? StateETag.MustNotExist, ttl: null, cancellationToken))
            {
                _generations = (next, time.GetUtcNow() + GenerationsRefresh);
                return;
            }
        }

        throw new InvalidOperationException("The cache could not be cleared: too many concurrent writers.");
    }

    private static Dictionary<string, long> Bump(Dictionary<string, long> generations, string name) =>
        new(generations, StringComparer.Ordinal) { [name] = generations.GetValueOrDefault(name) + 1 };

    private async ValueTask<Generations> GenerationsAsync(CancellationToken cancellationToken)
    {
        if (_generations is { } cached && cached.Until > time.GetUtcNow())
        {
            return cached.Value;
        }

        await _refresh.WaitAsync(cancellationToken);
        try
        {
            if (_generations is { } again && again.Until > time.GetUtcNow())
            {
                return again.Value;
            }

            var value = (await state.GetAsync<Generations>(GenerationsKey, cancellationToken))?.Value ?? new Generations(0, [], []);
            _generations = (value, time.GetUtcNow() + GenerationsRefresh);
            return value;
        }
        finally
        {
            _refresh.Release();
        }
    }

    public void Dispose() => _refresh.Dispose();

    /// <summary>Cache generations: all entries, per tenant, per model or alias.</summary>
    public sealed record Generations(long All, Dictionary<string, long> Tenants, Dictionary<string, long> Aliases);
}
