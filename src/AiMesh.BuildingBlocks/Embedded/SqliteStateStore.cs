using System.Globalization;
using System.Text.Json;
using AiMesh.BuildingBlocks.State;
using Microsoft.Data.Sqlite;

namespace AiMesh.BuildingBlocks.Embedded;

/// <summary>The embedded state store: one SQLite table, integer versions as ETags, TTL checked on read.</summary>
public sealed class SqliteStateStore(SqliteDatabase database, TimeProvider time) : IStateStore
{
    public Task<StateItem<T>?> GetAsync<T>(string key, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var now = Now();
        var item = database.Read(connection =>
        {
            var command = SqliteDatabase.Command(connection, null, "SELECT value, etag FROM state WHERE key = $key AND (expires_at IS NULL OR expires_at > $now)");
            command.Parameters.AddWithValue("$key", key);
            command.Parameters.AddWithValue("$now", now);
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }

            var value = JsonSerializer.Deserialize<T>(reader.GetFieldValue<byte[]>(0), AiMeshJson.Options)!;
            return new StateItem<T>(value, reader.GetInt64(1).ToString(CultureInfo.InvariantCulture));
        });
        return Task.FromResult(item);
    }

    public Task<bool> TrySaveAsync<T>(string key, T value, string? etag, TimeSpan? ttl, CancellationToken cancellationToken) =>
        TryExecuteTransactionAsync([StateOperation.Upsert(key, value, etag, ttl)], cancellationToken);

    public Task<bool> TryDeleteAsync(string key, string? etag, CancellationToken cancellationToken) =>
        TryExecuteTransactionAsync([StateOperation.Delete(key, etag)], cancellationToken);

    public Task<bool> TryExecuteTransactionAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var now = Now();
        return database.WriteAsync((connection, transaction) =>
        {
            foreach (var operation in operations)
            {
                // Every check comes before any write, so a refusal leaves nothing to undo.
                if (!Matches(connection, transaction, operation, now))
                {
                    return false;
                }
            }

            foreach (var operation in operations)
            {
                Apply(connection, transaction, operation, now);
            }

            return true;
        }, cancellationToken);
    }

    private static bool Matches(SqliteConnection connection, SqliteTransaction transaction, StateOperation operation, long now)
    {
        if (operation.ETag is null)
        {
            return true;
        }

        var command = SqliteDatabase.Command(connection, transaction, "SELECT etag FROM state WHERE key = $key AND (expires_at IS NULL OR expires_at > $now)");
        command.Parameters.AddWithValue("$key", operation.Key);
        command.Parameters.AddWithValue("$now", now);
        var current = command.ExecuteScalar() as long?;
        return operation.ETag == StateETag.MustNotExist
            ? current is null
            : current is not null && current.Value.ToString(CultureInfo.InvariantCulture) == operation.ETag;
    }

    private static void Apply(SqliteConnection connection, SqliteTransaction transaction, StateOperation operation, long now)
    {
        if (operation.Value is null)
        {
            var delete = SqliteDatabase.Command(connection, transaction, "DELETE FROM state WHERE key = $key");
            delete.Parameters.AddWithValue("$key", operation.Key);
            delete.ExecuteNonQuery();
            return;
        }

        // An expired row is as good as absent: its version restarts.
        var upsert = SqliteDatabase.Command(connection, transaction, """
            INSERT INTO state (key, value, etag, expires_at) VALUES ($key, $value, 1, $expires)
            ON CONFLICT(key) DO UPDATE SET
                value = excluded.value,
                etag = CASE WHEN state.expires_at IS NOT NULL AND state.expires_at <= $now THEN 1 ELSE state.etag + 1 END,
                expires_at = excluded.expires_at
            """);
        upsert.Parameters.AddWithValue("$key", operation.Key);
        upsert.Parameters.AddWithValue("$value", operation.Value);
        upsert.Parameters.AddWithValue("$now", now);
        upsert.Parameters.AddWithValue("$expires", operation.Ttl is { } ttl ? now + (long)ttl.TotalMilliseconds : DBNull.Value);
        upsert.ExecuteNonQuery();
    }

    private long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();
}
