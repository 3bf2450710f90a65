namespace AiMesh.BuildingBlocks.State;

/// <summary>A value read from the state store with the ETag that guards its next write.</summary>
public sealed record StateItem<T>(T Value, string ETag);

/// <summary>
/// Key/value state with optimistic concurrency. An ETag of <c>null</c> means last write wins;
/// <see cref="StateETag.MustNotExist"/> means the write only succeeds when the key is absent.
/// Writes that lose a race return <c>false</c> instead of throwing.
/// </summary>
public interface IStateStore
{
    Task<StateItem<T>?> GetAsync<T>(string key, CancellationToken cancellationToken);

    Task<bool> TrySaveAsync<T>(string key, T value, string? etag, TimeSpan? ttl, CancellationToken cancellationToken);

    Task<bool> TryDeleteAsync(string key, string? etag, CancellationToken cancellationToken);

    /// <summary>All operations or none: false when any ETag does not match.</summary>
    Task<bool> TryExecuteTransactionAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken);
}

public static class StateETag
{
    /// <summary>Write only if the key does not exist yet (first write wins).</summary>
    public const string MustNotExist = "\u0000absent";
}

/// <summary>One write of a transaction: <see cref="Value"/> null deletes the key.</summary>
public sealed record StateOperation(string Key, byte[]? Value, string? ETag, TimeSpan? Ttl = null)
{
    public static StateOperation Upsert<T>(string key, T value, string? etag, TimeSpan? ttl = null) =>
        new(key, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(value, AiMeshJson.Options), etag, ttl);

    public static StateOperation Delete(string key, string? etag) => new(key, null, etag);
}
