using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.BuildingBlocks.State;

namespace AiMesh.Bench.Micro;

/// <summary>A trivial in-memory state store (ETags honoured, TTL ignored) so the cache runs without SQLite.</summary>
public sealed class InMemoryStateStore : IStateStore
{
    private readonly ConcurrentDictionary<string, (byte[] Json, string ETag)> _items = new(StringComparer.Ordinal);
    private readonly Lock _writes = new();
    private long _version;

    public Task<StateItem<T>?> GetAsync<T>(string key, CancellationToken cancellationToken) =>
        Task.FromResult(_items.TryGetValue(key, out var item)
            ? new StateItem<T>(JsonSerializer.Deserialize<T>(item.Json, AiMeshJson.Options)!, item.ETag)
            : null);

    public Task<bool> TrySaveAsync<T>(string key, T value, string? etag, TimeSpan? ttl, CancellationToken cancellationToken) =>
        TryExecuteTransactionAsync([StateOperation.Upsert(key, value, etag, ttl)], cancellationToken);

    public Task<bool> TryDeleteAsync(string key, string? etag, CancellationToken cancellationToken) =>
        TryExecuteTransactionAsync([StateOperation.Delete(key, etag)], cancellationToken);

    public Task<bool> TryExecuteTransactionAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operations);
        lock (_writes)
        {
            if (!operations.All(Matches))
            {
                return Task.FromResult(false);
            }

            foreach (var operation in operations)
            {
                if (operation.Value is null)
                {
                    _items.TryRemove(operation.Key, out _);
                }
                else
                {
                    _items[operation.Key] = (operation.Value, (++_version).ToString(CultureInfo.InvariantCulture));
                }
            }

            return Task.FromResult(true);
        }
    }

    private bool Matches(StateOperation operation)
    {
        var exists = _items.TryGetValue(operation.Key, out var current);
        return operation.ETag switch
        {
            null => true,
            StateETag.MustNotExist => !exists,
            var etag => exists && current.ETag == etag,
        };
    }
}
