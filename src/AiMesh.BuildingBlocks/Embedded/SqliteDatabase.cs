using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace AiMesh.BuildingBlocks.Embedded;

public sealed class EmbeddedOptions
{
    public const string Section = "AiMesh:Embedded";

    /// <summary>The SQLite file that holds state, actor state and the event outbox.</summary>
    /// <value>Defaults to <c>data/aimesh.db</c> under the current directory.</value>
    public string DatabasePath { get; set; } = Path.Combine("data", "aimesh.db");

    /// <summary>A JSON file in the format of Dapr's local.file secret store (nested keys joined with ':').</summary>
    /// <value>Defaults to none: secrets then come from environment variables only.</value>
    public string? SecretsFile { get; set; }
}

/// <summary>
/// The embedded mode's SQLite file. Writes go through one gate: SQLite has a single writer,
/// and queuing here is cheaper than busy retries. WAL keeps readers off the writer's back,
/// and a committed write survives the process being killed.
/// </summary>
public sealed class SqliteDatabase : IDisposable
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeGate = new(1, 1);

    public SqliteDatabase(IOptions<EmbeddedOptions> options)
    {
        var path = System.IO.Path.GetFullPath(options.Value.DatabasePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        Path = path;
        using var connection = Open();
        Execute(connection, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            CREATE TABLE IF NOT EXISTS state (
                key TEXT PRIMARY KEY NOT NULL,
                value BLOB NOT NULL,
                etag INTEGER NOT NULL,
                expires_at INTEGER NULL);
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                subscriber TEXT NOT NULL,
                topic TEXT NOT NULL,
                payload BLOB NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL DEFAULT 0,
                dead INTEGER NOT NULL DEFAULT 0,
                trace_parent TEXT NULL);
            """);
    }

    public string Path { get; }

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        // Per connection: without synchronous=NORMAL every commit fsyncs the WAL. NORMAL in WAL mode
        // still keeps every commit across a crash of the process (only a power loss may lose the last ones).
        pragma.CommandText = "PRAGMA busy_timeout=30000; PRAGMA synchronous=NORMAL;";
        pragma.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Runs <paramref name="work"/> as the only writer, inside one transaction.</summary>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = Open();
            using var transaction = connection.BeginTransaction();
            var result = work(connection, transaction);
            transaction.Commit();
            return result;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _writeGate.Dispose();
        SqliteConnection.ClearAllPools();
    }
}
