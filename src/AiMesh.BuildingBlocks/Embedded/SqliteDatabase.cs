using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
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
/// The embedded mode's SQLite file. SQLite has a single writer, so writes are queued and committed
/// in groups by one committer on the thread pool: it commits every write queued so far in one
/// transaction (when one of them fails, the group runs again with a savepoint per write, so one
/// failing write does not undo the others), and every caller's task completes only once its write
/// is committed. Under load one commit thus serves many requests, and the writes one request starts
/// together (inside <see cref="DurableWrites.Together"/>, which wakes the committer only once they
/// are all queued) share a commit. The committer is queued at the end of the thread pool's queue:
/// under load the work queued before it (other requests, which add their writes meanwhile) runs
/// first, so groups grow and commits get fewer; alone, it runs at once. WAL keeps readers off the
/// writer's back, and a committed write survives the process being killed. The writer and the
/// readers keep their connections open and their statements prepared. Checkpoints (copying the WAL
/// back into the file, with its fsyncs) run on a thread of their own instead of inside whichever
/// commit crosses SQLite's threshold: commits wait for a disk flush only while the WAL starts over
/// (see <see cref="RestartWal"/>), once a second under steady writes.
/// </summary>
public sealed class SqliteDatabase : IDisposable
{
    /// <summary>Writes committed together at most: bounds one transaction's size.</summary>
    private const int MaxBatch = 256;

    /// <summary>Idle reader connections kept open; a burst opens more and closes them afterwards.</summary>
    private const int MaxIdleReaders = 4;

    /// <summary>How often the checkpointer looks for commits to copy back into the file.</summary>
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The size the WAL file is cut back to when it starts over: above what a second of steady writes adds
    /// (about 20 MB at 8,000 requests/s), so that under load the WAL reuses its blocks instead of being cut
    /// back, in the commit after each restart, and grown again.
    /// </summary>
    private const long WalSizeLimit = 64 * 1024 * 1024;

    /// <summary>Every this many rounds the checkpoint also starts the WAL over (see <see cref="CheckpointLoop"/>).</summary>
    private const int RestartEvery = 5;

    /// <summary>
    /// How long a restart round holds the writer back at most, waiting for readers of older frames to finish:
    /// AiMesh's own reads take microseconds, but a long one (a scan) must not keep the WAL from ever starting over.
    /// </summary>
    private static readonly TimeSpan RestartReaderWait = TimeSpan.FromMilliseconds(50);

    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> Statements = new();

    private readonly string _connectionString;
    private readonly ConcurrentQueue<IPendingWrite> _queue = new();
    private readonly ConcurrentBag<SqliteConnection> _readers = [];
    private readonly Lock _writerLock = new();
    private SqliteConnection? _writer;
    private readonly Thread _checkpointer;
    private readonly ManualResetEventSlim _stopping = new();
    private long _commits;
    private int _scheduled;
    private readonly Action _wakeCommitter;
    private bool _disposed;

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
        _wakeCommitter = WakeCommitter;
        using var connection = Open();
        // Every page a commit changes is a write into the WAL, so the tables keep that count low: state is
        // keyed by its key alone (WITHOUT ROWID: no second index to update beside the table), and outbox ids
        // come from the rowid without AUTOINCREMENT (which updates the sqlite_sequence table on every insert).
        // Files made by earlier versions keep their tables; both shapes work the same.
        Execute(connection, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            CREATE TABLE IF NOT EXISTS state (
                key TEXT PRIMARY KEY NOT NULL,
                value BLOB NOT NULL,
                etag INTEGER NOT NULL,
                expires_at INTEGER NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY,
                subscriber TEXT NOT NULL,
                topic TEXT NOT NULL,
                payload BLOB NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL DEFAULT 0,
                dead INTEGER NOT NULL DEFAULT 0,
                trace_parent TEXT NULL);
            """);
        _checkpointer = new Thread(CheckpointLoop) { IsBackground = true, Name = "AiMesh SQLite checkpointer" };
        _checkpointer.Start();
    }

    public string Path { get; }

    /// <summary>A new connection of the caller's own (dispose it); the hot paths use <see cref="Read"/> and <see cref="WriteAsync"/>.</summary>
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

    /// <summary>Runs <paramref name="work"/> on a reader connection lent for the call (it sees the last committed state).</summary>
    public T Read<T>(Func<SqliteConnection, T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var connection = _readers.TryTake(out var idle) ? idle : Open();
        try
        {
            return work(connection);
        }
        finally
        {
            if (_disposed || _readers.Count >= MaxIdleReaders)
            {
                connection.Dispose();
            }
            else
            {
                _readers.Add(connection);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> as the only writer, inside a transaction, and completes once
    /// that transaction is committed. When <paramref name="work"/> throws, its own changes are
    /// rolled back and the task fails with the exception; other writes in the group are kept. So
    /// <paramref name="work"/> may run twice (the first run rolled back, when a write of its group threw):
    /// whatever it does beside the database must come out the same when it is run again.
    /// </summary>
    public Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        var write = new PendingWrite<T>(work);
        _queue.Enqueue(write);
        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0 && !DurableWrites.TryDefer(_wakeCommitter))
        {
            WakeCommitter();
        }

        return write.Task;
    }

    private void WakeCommitter() => ThreadPool.UnsafeQueueUserWorkItem(static database => database.CommitQueued(), this, preferLocal: false);

    /// <summary>
    /// A cached, prepared command for <paramref name="sql"/> on <paramref name="connection"/> (one of
    /// this database's connections), its parameters cleared and its transaction set. Use it for one
    /// statement at a time and dispose any reader it returns before the next use.
    /// </summary>
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var commands = Statements.GetValue(connection, _ => new Dictionary<string, SqliteCommand>(StringComparer.Ordinal));
        if (!commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            commands[sql] = command;
        }

        command.Parameters.Clear();
        command.Transaction = transaction;
        return command;
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// The committer: commits groups until the queue is empty, then stands down. Callers of a group
    /// that others queued behind continue on the thread pool, so the next commit does not wait for
    /// them; the callers of the last group continue right here, once the committer has stood down
    /// (a write they make starts a committer of its own): a lone request thus goes on without a hop
    /// to another thread.
    /// </summary>
    private void CommitQueued()
    {
        do
        {
            List<IPendingWrite>? last = null;
            while (!_queue.IsEmpty)
            {
                var batch = CommitBatch();
                if (_queue.IsEmpty)
                {
                    last = batch;
                    break;
                }

                foreach (var write in batch)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static write => write.Complete(), write, preferLocal: false);
                }
            }

            Volatile.Write(ref _scheduled, 0);
            foreach (var write in last ?? [])
            {
                write.Complete();
            }
        }
        // A write queued just before the flag went down found a committer still scheduled: take it.
        while (!_queue.IsEmpty && Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0);
    }

    /// <summary>Commits the next group; its writes are then ready to <see cref="IPendingWrite.Complete"/>.</summary>
    private List<IPendingWrite> CommitBatch()
    {
        var batch = new List<IPendingWrite>(Math.Min(_queue.Count, MaxBatch));
        while (batch.Count < MaxBatch && _queue.TryDequeue(out var write))
        {
            batch.Add(write);
        }

        if (batch.Count == 0)
        {
            return batch;
        }

        try
        {
            lock (_writerLock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _writer ??= OpenWriter();
                if (!TryCommitTogether(_writer, batch))
                {
                    CommitEachInSavepoint(_writer, batch);
                }
            }

            Interlocked.Increment(ref _commits);
        }
        catch (Exception exception)
        {
            // Nothing of the group is committed: every write in it fails.
            ResetWriter();
            foreach (var write in batch)
            {
                write.Failed(exception);
            }
        }

        return batch;
    }

    /// <summary>
    /// Runs the group's writes in one transaction without savepoints (writes rarely fail, and a savepoint
    /// costs two more statements per write) and commits it. When a write fails alone in its group, nothing
    /// is committed and the group is done; when it fails beside others, the transaction is rolled back
    /// and false returned, so that the group runs again with a savepoint per write.
    /// </summary>
    private static bool TryCommitTogether(SqliteConnection connection, List<IPendingWrite> batch)
    {
        using var transaction = connection.BeginTransaction();
        foreach (var write in batch)
        {
            if (!write.Run(connection, transaction))
            {
                transaction.Rollback();
                return batch.Count == 1;
            }
        }

        transaction.Commit();
        return true;
    }

    /// <summary>The group again, each write in a savepoint that its failure rolls back: the others are committed.</summary>
    private static void CommitEachInSavepoint(SqliteConnection connection, List<IPendingWrite> batch)
    {
        using var transaction = connection.BeginTransaction();
        foreach (var write in batch)
        {
            Command(connection, transaction, "SAVEPOINT w").ExecuteNonQuery();
            if (!write.Run(connection, transaction))
            {
                Command(connection, transaction, "ROLLBACK TO w").ExecuteNonQuery();
            }

            Command(connection, transaction, "RELEASE w").ExecuteNonQuery();
        }

        transaction.Commit();
    }

    /// <summary>The writer's connection: it never checkpoints itself (the checkpointer does).</summary>
    private SqliteConnection OpenWriter()
    {
        var connection = Open();
        Execute(connection, $"PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WalSizeLimit};");
        return connection;
    }

    /// <summary>
    /// Copies committed WAL frames back into the database file every <see cref="CheckpointInterval"/>
    /// when there were commits. PASSIVE never blocks the writer or readers, but under steady writes it
    /// never catches up with the last frames, and only a WAL copied completely can start over: so
    /// every <see cref="RestartEvery"/> rounds <see cref="RestartWal"/> follows.
    /// </summary>
    private void CheckpointLoop()
    {
        SqliteConnection? connection = null;
        var checkpointed = 0L;
        var round = 0;
        try
        {
            while (!_stopping.Wait(CheckpointInterval))
            {
                var commits = Interlocked.Read(ref _commits);
                if (commits == checkpointed)
                {
                    continue;
                }

                try
                {
                    connection ??= OpenCheckpointer();
                    Execute(connection, "PRAGMA wal_checkpoint(PASSIVE);");
                    if (++round % RestartEvery == 0)
                    {
                        RestartWal(connection);
                    }

                    checkpointed = commits;
                }
                catch (SqliteException)
                {
                    // Busy or failing now: the next round tries again (the WAL only grows meanwhile).
                    connection?.Dispose();
                    connection = null;
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>The checkpointer's connection: SQLite's busy handler never sleeps on it (see <see cref="RestartWal"/>).</summary>
    private SqliteConnection OpenCheckpointer()
    {
        var connection = Open();
        Execute(connection, "PRAGMA busy_timeout=0;");
        return connection;
    }

    /// <summary>
    /// Lets the next commit start the WAL afresh (cut back to <see cref="WalSizeLimit"/>): with the writer
    /// held back between two commits (on <see cref="_writerLock"/>), a RESTART copies the frames committed
    /// since the PASSIVE round and succeeds once no reader is left on older frames. It is tried again
    /// until then, for <see cref="RestartReaderWait"/> at most (the next round tries anew). The writer waits
    /// for the RESTART's copy and fsyncs (7-12 ms at 32 connections on the bench VM, where the kernel's
    /// flush threads compete for the busy cores) and goes on the moment it ends. Left to SQLite, the writer
    /// and the RESTART would wait for each other in its busy handler, which sleeps 1, 2, 5, then 10 ms
    /// between tries: a writer that found the RESTART running went on only 8 or 18 ms later.
    /// </summary>
    private void RestartWal(SqliteConnection connection)
    {
        lock (_writerLock)
        {
            var started = Stopwatch.GetTimestamp();
            var spin = new SpinWait();
            while (!TryCheckpoint(connection, "PRAGMA wal_checkpoint(RESTART);") && Stopwatch.GetElapsedTime(started) < RestartReaderWait)
            {
                spin.SpinOnce();
            }
        }
    }

    /// <summary>Runs a checkpoint pragma; false when it could not complete (its first column, "busy", is 1).</summary>
    private static bool TryCheckpoint(SqliteConnection connection, string sql)
    {
        using var reader = Command(connection, null, sql).ExecuteReader();
        return reader.Read() && reader.GetInt64(0) == 0;
    }

    /// <summary>After a failed commit the writer connection may be in any state: start afresh.</summary>
    private void ResetWriter()
    {
        lock (_writerLock)
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    public void Dispose()
    {
        lock (_writerLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _writer?.Dispose();
            _writer = null;
        }

        _stopping.Set();
        _checkpointer.Join();
        _stopping.Dispose();

        while (_readers.TryTake(out var reader))
        {
            reader.Dispose();
        }

        while (_queue.TryDequeue(out var write))
        {
            write.Fail(new ObjectDisposedException(nameof(SqliteDatabase)));
        }

        SqliteConnection.ClearAllPools();
    }

    private interface IPendingWrite
    {
        /// <summary>
        /// Runs the work; false when it threw (the exception is kept for <see cref="Complete"/>). It may run
        /// again, in a new transaction, when another write of its group threw: the last run counts.
        /// </summary>
        bool Run(SqliteConnection connection, SqliteTransaction transaction);

        /// <summary>The group was not committed: <see cref="Complete"/> hands out <paramref name="exception"/>.</summary>
        void Failed(Exception exception);

        /// <summary>After the commit: hands out the result, or the exception (the work's own, or the commit's).</summary>
        void Complete();

        /// <summary>Fails the write at once (the database is gone).</summary>
        void Fail(Exception exception);
    }

    /// <summary>A queued write; its result is handed out only after the commit, on the thread <see cref="CommitQueued"/> chooses.</summary>
    private sealed class PendingWrite<T>(Func<SqliteConnection, SqliteTransaction, T> work) : IPendingWrite
    {
        private readonly TaskCompletionSource<T> _completion = new();
        private T? _result;
        private Exception? _failure;

        public Task<T> Task => _completion.Task;

        public bool Run(SqliteConnection connection, SqliteTransaction transaction)
        {
            _failure = null;
            try
            {
                _result = work(connection, transaction);
                return true;
            }
            catch (Exception exception)
            {
                _failure = exception;
                return false;
            }
        }

        public void Complete()
        {
            if (_failure is null)
            {
                _completion.TrySetResult(_result!);
            }
            else
            {
                _completion.TrySetException(_failure);
            }
        }

        public void Failed(Exception exception) => _failure = exception;

        public void Fail(Exception exception) => _completion.TrySetException(exception);
    }
}
