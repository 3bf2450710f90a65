using AiMesh.BuildingBlocks;
using AiMesh.BuildingBlocks.Embedded;
using AiMesh.Testing;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.BuildingBlocks;

public sealed class SqliteDatabaseTests : IDisposable
{
    private readonly SqliteDatabase _sut = new(Options.Create(new EmbeddedOptions { DatabasePath = EmbeddedGateway.NewDatabasePath() }));

    [Fact]
    public async Task WriteAsync_AloneAndThrowing_CommitsNothingOfItAndLaterWritesCommit()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);

        var failed = _sut.WriteAsync<int>((c, t) =>
        {
            Execute(c, t, "INSERT INTO items VALUES ('lost')");
            throw new InvalidOperationException("boom");
        }, CancellationToken.None);
        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => failed);
        await _sut.WriteAsync((c, t) => Execute(c, t, "INSERT INTO items VALUES ('kept')"), CancellationToken.None);

        Assert.Equal("boom", exception.Message);
        Assert.Equal(["kept"], _sut.Read(Names));
    }

    [Fact]
    public async Task WriteAsync_ManyWritersEachWritingAgainAfterItsCommit_EveryWriteIsCommittedAndOnlyTheThrowingOnesFail()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);

        // Sixteen writers, each making its next write from the continuation of the last one (as a request does):
        // groups form and complete on the committer and on the pool alike, and none of them may stall or be lost.
        async Task<int> WriterAsync(int writer)
        {
            var failures = 0;
            for (var i = 0; i < 50; i++)
            {
                var name = $"{writer}-{i}";
                try
                {
                    await _sut.WriteAsync((c, t) =>
                    {
                        var insert = SqliteDatabase.Command(c, t, "INSERT INTO items VALUES ($name)");
                        insert.Parameters.AddWithValue("$name", name);
                        insert.ExecuteNonQuery();
                        return i % 10 == 9 ? throw new InvalidOperationException(name) : 0;
                    }, CancellationToken.None);
                }
                catch (InvalidOperationException exception) when (exception.Message == name)
                {
                    failures++;
                }
            }

            return failures;
        }

        var failures = await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(() => WriterAsync(w)))).WaitAsync(TimeSpan.FromSeconds(30));

        var expected = Enumerable.Range(0, 16).SelectMany(w => Enumerable.Range(0, 50).Where(i => i % 10 != 9).Select(i => $"{w}-{i}")).Order(StringComparer.Ordinal);
        Assert.Equal(Enumerable.Repeat(5, 16), failures);
        Assert.Equal(expected, _sut.Read(Names).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WriteAsync_TwoWritesStartedInOneDurableWritesScope_ShareOneCommitEvenWhenTheCommitterIsIdle()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);
        var transactions = new Microsoft.Data.Sqlite.SqliteTransaction?[3];

        Task<int> Insert(int index) => _sut.WriteAsync((c, t) =>
        {
            transactions[index] = t;
            return Execute(c, t, $"INSERT INTO items VALUES ('{index}')");
        }, CancellationToken.None);

        Task first, second, third;
        using (DurableWrites.Together())
        {
            first = Insert(0);
            using (DurableWrites.Together())
            {
                second = Insert(1);
            }

            // Long enough for an idle committer to have committed the first writes alone, were it woken.
            Thread.Sleep(100);
            third = Insert(2);
            Assert.False(first.IsCompleted || second.IsCompleted, "a write was committed before its scope ended");
        }

        await Task.WhenAll(first, second, third).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(transactions[0]);
        Assert.Same(transactions[0], transactions[1]);
        Assert.Same(transactions[0], transactions[2]);
        Assert.Equal(["0", "1", "2"], _sut.Read(Names).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WriteAsync_AGroupWithoutFailures_RunsEachWriteOnceInOneTransaction()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);
        var runs = new int[3];
        var transactions = new Microsoft.Data.Sqlite.SqliteTransaction?[3];

        Task<int> Insert(int index) => _sut.WriteAsync((c, t) =>
        {
            runs[index]++;
            transactions[index] = t;
            return Execute(c, t, $"INSERT INTO items VALUES ('{index}')");
        }, CancellationToken.None);

        Task[] writes;
        using (DurableWrites.Together())
        {
            writes = [Insert(0), Insert(1), Insert(2)];
        }

        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([1, 1, 1], runs);
        Assert.All(transactions, t => Assert.Same(transactions[0], t));
        Assert.Equal(["0", "1", "2"], _sut.Read(Names).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WriteAsync_OneWriteOfAGroupThrows_TheGroupRunsAgainAndOnlyThatWriteIsLost()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);
        var runs = new int[3];

        // The middle write inserts, then throws: the first run of the group is rolled back (the first write's
        // insert too), and the group runs again with a savepoint per write, so the first and last are kept once.
        Task<int> Insert(int index) => _sut.WriteAsync((c, t) =>
        {
            runs[index]++;
            Execute(c, t, $"INSERT INTO items VALUES ('{index}')");
            return index == 1 ? throw new InvalidOperationException("boom") : index;
        }, CancellationToken.None);

        Task<int> first, second, third;
        using (DurableWrites.Together())
        {
            first = Insert(0);
            second = Insert(1);
            third = Insert(2);
        }

        Assert.Equal(0, await first.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("boom", (await Assert.ThrowsAsync<InvalidOperationException>(() => second)).Message);
        Assert.Equal(2, await third);
        Assert.Equal([2, 2, 1], runs);
        Assert.Equal(["0", "2"], _sut.Read(Names).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WriteAsync_AfterADurableWritesScopeEnded_CommitsWithoutWaitingForAnotherScope()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);
        using (DurableWrites.Together())
        {
        }

        default(DurableWrites.Scope).Dispose();

        // No scope is open on this thread any more (a default scope ends none): the write wakes the committer itself.
        await _sut.WriteAsync((c, t) => Execute(c, t, "INSERT INTO items VALUES ('alone')"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["alone"], _sut.Read(Names));
    }

    [Fact]
    public async Task WriteAsync_WritesThatNeverPause_WalStartsOverAndStaysBounded()
    {
        await _sut.WriteAsync((c, t) => Execute(c, t, "CREATE TABLE items (name TEXT)"), CancellationToken.None);
        var wal = _sut.Path + "-wal";
        var payload = new string('x', 1024);
        var largest = 0L;
        var commits = 0L;
        var restarts = new HashSet<uint>();
        // Until the WAL has started over three times beside 1,000 writes or more (about 3 s alone); a machine busy with
        // the rest of the suite gets there later, and 20 s without is a failure.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        // Two writers that never pause and a reader, as under steady load: a checkpoint beside them never finds the WAL
        // idle, so without restarts every frame of these seconds would stay in it.
        async Task WriteAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                await _sut.WriteAsync((c, t) =>
                {
                    var insert = SqliteDatabase.Command(c, t, "INSERT INTO items VALUES ($name)");
                    insert.Parameters.AddWithValue("$name", payload);
                    return insert.ExecuteNonQuery();
                }, CancellationToken.None);
                Interlocked.Increment(ref commits);
            }
        }

        void Read()
        {
            while (!stop.IsCancellationRequested)
            {
                // A point read, as AiMesh's own are (a key's row): a scan of the whole growing table would hold
                // its old snapshot for milliseconds, longer than a restart round waits for readers on a loaded machine.
                _sut.Read(c => SqliteDatabase.Command(c, null, "SELECT name FROM items WHERE rowid = (SELECT MAX(rowid) FROM items)").ExecuteScalar());
            }
        }

        async Task WatchAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                largest = Math.Max(largest, File.Exists(wal) ? new FileInfo(wal).Length : 0);
                if (CheckpointSequence(wal) is { } sequence)
                {
                    restarts.Add(sequence);
                }

                if (restarts.Count >= 4 && Interlocked.Read(ref commits) >= 1000)
                {
                    await stop.CancelAsync();
                }

                await Task.Delay(20);
            }
        }

        await Task.WhenAll(Task.Run(WriteAsync), Task.Run(WriteAsync), Task.Run(Read), WatchAsync());
        var grewTo = new FileInfo(wal).Length;
        // After a restart round (every second), the next write starts the WAL over, cut back to its limit (64 MB).
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await _sut.WriteAsync((c, t) => Execute(c, t, "INSERT INTO items VALUES ('last')"), CancellationToken.None);

        Assert.True(commits >= 1000, $"only {commits} writes in 20 s");
        // The WAL header's checkpoint sequence number goes up each time the WAL starts over: about once a second here.
        Assert.True(restarts.Count >= 4, $"the WAL started over {restarts.Count - 1} times during {commits} writes in 20 s");
        Assert.True(new FileInfo(wal).Length <= 65L * 1024 * 1024, $"the WAL is {new FileInfo(wal).Length / 1024 / 1024} MB after a restart ({commits} writes, largest {largest / 1024 / 1024} MB, at the end {grewTo / 1024 / 1024} MB)");
    }

    /// <summary>The WAL header's checkpoint sequence number (bytes 12-15, big-endian), when the file has a header yet.</summary>
    private static uint? CheckpointSequence(string wal)
    {
        try
        {
            using var file = new FileStream(wal, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            Span<byte> header = stackalloc byte[16];
            return file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) == header.Length
                ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header[12..])
                : null;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    private static int Execute(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction transaction, string sql) =>
        SqliteDatabase.Command(connection, transaction, sql).ExecuteNonQuery();

    private static List<string> Names(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM items";
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    public void Dispose() => _sut.Dispose();
}
