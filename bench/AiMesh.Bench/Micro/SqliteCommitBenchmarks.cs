using AiMesh.BuildingBlocks;
using AiMesh.BuildingBlocks.Embedded;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Options;

namespace AiMesh.Bench.Micro;

/// <summary>
/// One group commit of the embedded mode's SQLite file: <see cref="Writes"/> writes started together
/// (as the requests in flight under load add theirs while the committer is busy), each an outbox row
/// of a usage event's size, committed in one transaction. The file is in a temporary directory.
/// </summary>
[MemoryDiagnoser]
public class SqliteCommitBenchmarks : IDisposable
{
    private static readonly byte[] Payload = new byte[400];
    private readonly Func<Microsoft.Data.Sqlite.SqliteConnection, Microsoft.Data.Sqlite.SqliteTransaction, long> _insert = Insert;
    private Task<long>[] _writes = [];
    private string _directory = "";
    private SqliteDatabase? _database;

    [Params(1, 16)]
    public int Writes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _writes = new Task<long>[Writes];
        _directory = Directory.CreateTempSubdirectory("aimesh-bench-sqlite").FullName;
        _database = new SqliteDatabase(Options.Create(new EmbeddedOptions { DatabasePath = Path.Combine(_directory, "bench.db") }));
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _database?.Dispose();
        _database = null;
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public async Task GroupCommit()
    {
        using (DurableWrites.Together())
        {
            for (var i = 0; i < Writes; i++)
            {
                _writes[i] = _database!.WriteAsync(_insert, CancellationToken.None);
            }
        }

        for (var i = 0; i < Writes; i++)
        {
            await _writes[i];
        }
    }

    private static long Insert(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction transaction)
    {
        var command = SqliteDatabase.Command(connection, transaction, "INSERT INTO outbox (subscriber, topic, payload) VALUES ('*', 'usage', $payload) RETURNING id");
        command.Parameters.AddWithValue("$payload", Payload);
        return (long)command.ExecuteScalar()!;
    }
}
