using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Concurrency = Dapr.Client.Autogen.Grpc.v1.StateOptions.Types.StateConcurrency;

namespace AiMesh.Testing.Dapr;

/// <summary>
/// The fake sidecar's key/value state, with daprd's ETag rules (as its Redis store applies them):
/// ETags are integer versions, 1 for a new key, incremented by every write.
/// <list type="bullet">
/// <item>a write with an ETag succeeds only when the key exists with that version (a non-integer ETag is invalid);</item>
/// <item>first-write concurrency without an ETag means "the key must not exist";</item>
/// <item>no ETag (or explicit last-write concurrency) writes unconditionally;</item>
/// <item>a delete with an ETag of a key that no longer exists succeeds (there is nothing to delete).</item>
/// </list>
/// Keys are stored as given (no app-id prefix). <c>ttlInSeconds</c> metadata makes a key expire
/// (by the sidecar's <see cref="TimeProvider"/>); <c>-1</c> or no TTL keeps it.
/// </summary>
public sealed class FakeStateStore(TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Store, string Key), Entry> _entries = [];

    internal enum Failure
    {
        None,
        Mismatch,
        Invalid,
    }

    /// <summary>The value and ETag of a key, or null when it does not exist (or expired).</summary>
    public (ByteString Value, string ETag)? Get(string store, string key)
    {
        lock (_gate)
        {
            return Live(store, key) is { } entry ? (entry.Value, entry.Version.ToString(CultureInfo.InvariantCulture)) : null;
        }
    }

    /// <summary>The value of a key parsed as JSON, or null when it does not exist.</summary>
    public JsonNode? GetJson(string store, string key) =>
        Get(store, key) is { } item ? JsonNode.Parse(item.Value.Span) : null;

    /// <summary>The ETag of a key, or null when it does not exist.</summary>
    public string? GetETag(string store, string key) => Get(store, key)?.ETag;

    /// <summary>The metadata (e.g. ttlInSeconds) of the last write of a key, or null when it does not exist.</summary>
    public IReadOnlyDictionary<string, string>? GetMetadata(string store, string key)
    {
        lock (_gate)
        {
            return Live(store, key)?.Metadata;
        }
    }

    /// <summary>Every live key of a store.</summary>
    public IReadOnlyList<string> Keys(string store)
    {
        lock (_gate)
        {
            var keys = _entries.Keys.Where(k => k.Store == store).ToList();
            return keys.Where(k => Live(k.Store, k.Key) is not null).Select(k => k.Key).Order(StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Seeds a key with a JSON text, unconditionally; returns its new ETag.</summary>
    public string Set(string store, string key, string json)
    {
        var write = new StateWrite(key, ByteString.CopyFrom(json, Encoding.UTF8), null, Concurrency.ConcurrencyLastWrite, new Dictionary<string, string>());
        Apply(store, [write], atomic: true, out _);
        return GetETag(store, key)!;
    }

    /// <summary>
    /// Applies writes in order. Atomic: all or none (a transaction). Not atomic: up to the first
    /// failure (daprd's bulk save). Returns the failure and sets <paramref name="failedKey"/>.
    /// </summary>
    internal Failure Apply(string store, IReadOnlyList<StateWrite> writes, bool atomic, out string? failedKey)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var pending = new List<((string, string) Key, Entry? Next)>();
            var view = new Dictionary<string, Entry?>(StringComparer.Ordinal);
            failedKey = null;
            var failure = Failure.None;
            foreach (var write in writes)
            {
                var current = view.TryGetValue(write.Key, out var seen) ? seen : Live(store, write.Key);
                failure = Check(current, write);
                if (failure != Failure.None)
                {
                    failedKey = write.Key;
                    break;
                }

                Entry? next = write.Value is null
                    ? null
                    : new Entry(write.Value, (current?.Version ?? 0) + 1, ExpiresAt(write.Metadata, now), new Dictionary<string, string>(write.Metadata));
                view[write.Key] = next;
                pending.Add(((store, write.Key), next));
            }

            if (failure != Failure.None && atomic)
            {
                return failure;
            }

            foreach (var (key, next) in pending)
            {
                if (next is null)
                {
                    _entries.Remove(key);
                }
                else
                {
                    _entries[key] = next;
                }
            }

            return failure;
        }
    }

    private static Failure Check(Entry? current, StateWrite write)
    {
        if (write.Concurrency == Concurrency.ConcurrencyLastWrite)
        {
            return Failure.None;
        }

        if (!string.IsNullOrEmpty(write.ETag))
        {
            if (!long.TryParse(write.ETag, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                return Failure.Invalid;
            }

            if (current is null)
            {
                return write.Value is null ? Failure.None : Failure.Mismatch;
            }

            return current.Version == version ? Failure.None : Failure.Mismatch;
        }

        return write.Concurrency == Concurrency.ConcurrencyFirstWrite && write.Value is not null && current is not null
            ? Failure.Mismatch
            : Failure.None;
    }

    private static DateTimeOffset? ExpiresAt(IReadOnlyDictionary<string, string> metadata, DateTimeOffset now) =>
        metadata.TryGetValue("ttlInSeconds", out var text)
        && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds)
        && seconds > 0
            ? now.AddSeconds(seconds)
            : null;

    private Entry? Live(string store, string key)
    {
        if (!_entries.TryGetValue((store, key), out var entry))
        {
            return null;
        }

        if (entry.ExpiresAt is { } expiry && time.GetUtcNow() >= expiry)
        {
            _entries.Remove((store, key));
            return null;
        }

        return entry;
    }

    private sealed record Entry(ByteString Value, long Version, DateTimeOffset? ExpiresAt, IReadOnlyDictionary<string, string> Metadata);
}

/// <summary>One write as the gRPC API carries it: a null <see cref="Value"/> deletes the key.</summary>
internal sealed record StateWrite(string Key, ByteString? Value, string? ETag, Concurrency Concurrency, IReadOnlyDictionary<string, string> Metadata);
