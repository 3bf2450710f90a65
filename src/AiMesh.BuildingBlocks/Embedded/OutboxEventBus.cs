using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using AiMesh.BuildingBlocks.PubSub;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AiMesh.BuildingBlocks.Embedded;

public sealed class EventBusOptions
{
    public const string Section = "AiMesh:Embedded:EventBus";

    /// <summary>Deliveries tried before an event goes to the dead-letter state.</summary>
    /// <value>Defaults to 10.</value>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>First retry delay; doubles per attempt up to <see cref="MaxRetryDelay"/>.</summary>
    /// <value>Defaults to 200 ms.</value>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <value>Defaults to 10 s.</value>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long the delivery loop lets events gather after the first arrives, so that a pass delivers
    /// many at once (one ledger transaction for all) and stays off the request path's back.
    /// </summary>
    /// <value>Defaults to 5 ms; zero delivers at once.</value>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.FromMilliseconds(5);
}

/// <summary>
/// The embedded pub/sub: a publish is written to an outbox table in the SQLite file (one row
/// per subscriber) before it returns, and a background loop delivers each row until its
/// handler succeeds. So delivery is at least once, across crashes and restarts too. The table is
/// the truth; the published object is also kept in memory by row id until its row is delivered,
/// so the loop reads only ids and attempts and deserializes payloads only after a restart.
/// </summary>
public sealed partial class OutboxEventBus(
    SqliteDatabase database,
    IEnumerable<EventSubscription> subscriptions,
    IServiceProvider services,
    IOptions<EventBusOptions> options,
    TimeProvider time,
    ILogger<OutboxEventBus> logger) : BackgroundService, IEventPublisher
{
    private readonly EventSubscription[] _subscriptions = subscriptions.ToArray();
    private readonly Dictionary<string, EventSubscription[]> _byTopic = subscriptions.ToArray().GroupBy(s => s.Topic).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
    private readonly HashSet<string> _takesBatches = subscriptions.ToArray().Where(s => s.TakesBatches).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
    public const string ActivitySourceName = "AiMesh.BuildingBlocks";
    private static readonly ActivitySource Tracing = new(ActivitySourceName);
    private const int PageSize = 256;
    private const string PageSizeText = "256";
    /// <summary>Published objects kept in memory, beyond which the loop reads payloads from the table.</summary>
    private const int MaxInMemory = 16_384;
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private readonly ConcurrentDictionary<long, object> _published = new();
    private int _signalled;

    public async Task PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class
    {
        if (!_byTopic.TryGetValue(topic, out var subscribers))
        {
            return;
        }

        var payload = JsonSerializer.SerializeToUtf8Bytes(message, AiMeshJson.Options);
        // The W3C traceparent travels with the event, as Dapr carries it in the CloudEvent.
        var traceParent = Activity.Current?.Id;
        var ids = new long[subscribers.Length];
        try
        {
            await database.WriteAsync((connection, transaction) =>
            {
                for (var i = 0; i < subscribers.Length; i++)
                {
                    var command = SqliteDatabase.Command(connection, transaction, "INSERT INTO outbox (subscriber, topic, payload, trace_parent) VALUES ($subscriber, $topic, $payload, $trace) RETURNING id");
                    command.Parameters.AddWithValue("$trace", (object?)traceParent ?? DBNull.Value);
                    command.Parameters.AddWithValue("$subscriber", subscribers[i].Name);
                    command.Parameters.AddWithValue("$topic", topic);
                    command.Parameters.AddWithValue("$payload", payload);
                    ids[i] = (long)command.ExecuteScalar()!;
                }

                // Kept before the commit, so the loop never meets a committed row whose object comes later. An id
                // can come again after a rolled-back group: whatever an earlier publish left under it goes.
                var keep = _published.Count < MaxInMemory;
                foreach (var id in ids)
                {
                    if (keep)
                    {
                        _published[id] = message;
                    }
                    else
                    {
                        _published.TryRemove(id, out _);
                    }
                }

                return 0;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not committed: no row will ever claim these objects.
            foreach (var id in ids)
            {
                // Only this publish's own object: a later publish may already have the id again.
                _published.TryRemove(KeyValuePair.Create(id, (object)message));
            }

            throw;
        }
        // One wake-up for however many events arrive before the loop looks again.
        if (Interlocked.Exchange(ref _signalled, 1) == 0)
        {
            _signal.Release();
        }
    }

    /// <summary>Events waiting for delivery (not dead-lettered).</summary>
    public long PendingCount()
    {
        return database.Read(connection => (long)SqliteDatabase.Command(connection, null, "SELECT COUNT(*) FROM outbox WHERE dead = 0").ExecuteScalar()!);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                // Reset before reading: an event published from here on signals again.
                Volatile.Write(ref _signalled, 0);
                var (delivered, nextDue) = await DeliverDueAsync(stoppingToken).ConfigureAwait(false);
                if (delivered < PageSize)
                {
                    if (delivered == 0)
                    {
                        var wait = nextDue is { } due ? TimeSpan.FromMilliseconds(Math.Max(1, due - Now())) : TimeSpan.FromSeconds(5);
                        await _signal.WaitAsync(wait, stoppingToken).ConfigureAwait(false);
                    }

                    // Let the events that follow gather, so that one pass (one ledger transaction) takes them all.
                    if (options.Value.BatchWindow > TimeSpan.Zero)
                    {
                        await Task.Delay(options.Value.BatchWindow, stoppingToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task<(int Delivered, long? NextDue)> DeliverDueAsync(CancellationToken stoppingToken)
    {
        var now = Now();
        var rows = new List<OutboxRow>();
        long? nextDue = null;
        database.Read(connection =>
        {
            var command = SqliteDatabase.Command(connection, null, "SELECT id, subscriber, attempts, next_attempt_at, trace_parent, payload FROM outbox WHERE dead = 0 ORDER BY id LIMIT " + PageSizeText);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var due = reader.GetInt64(3);
                if (due <= now)
                {
                    // The payload column is read (and later deserialized) only when the object is not in memory.
                    var id = reader.GetInt64(0);
                    var published = _published.TryRemove(id, out var kept) ? kept : null;
                    rows.Add(new OutboxRow(id, reader.GetString(1), published, published is null ? (byte[])reader[5] : null, reader.GetInt32(2), reader.IsDBNull(4) ? null : reader.GetString(4)));
                }
                else
                {
                    nextDue = nextDue is null ? due : Math.Min(nextDue.Value, due);
                }
            }

            return rows.Count;
        });

        var delivered = new List<long>(rows.Count);
        try
        {
            var handled = new HashSet<long>();
            foreach (var batch in rows.Where(r => _takesBatches.Contains(r.Subscriber)).GroupBy(r => r.Subscriber).Where(g => g.Count() > 1))
            {
                if (await DeliverBatchAsync(batch.Key, [.. batch], stoppingToken).ConfigureAwait(false))
                {
                    delivered.AddRange(batch.Select(r => r.Id));
                    handled.UnionWith(batch.Select(r => r.Id));
                }
            }

            foreach (var row in rows.Where(r => !handled.Contains(r.Id)))
            {
                var retryAt = await DeliverOneAsync(row, stoppingToken).ConfigureAwait(false);
                if (retryAt is null)
                {
                    delivered.Add(row.Id);
                }
                else if (retryAt != long.MaxValue)
                {
                    nextDue = nextDue is null ? retryAt : Math.Min(nextDue.Value, retryAt.Value);
                }
            }
        }
        finally
        {
            await RemoveAsync(delivered).ConfigureAwait(false);
        }

        return (delivered.Count, nextDue);
    }

    /// <summary>
    /// Several rows of one batching subscriber in one call (one ledger transaction instead of one per
    /// event). False when it failed: the rows are then delivered one by one, with their own retries.
    /// </summary>
    private async Task<bool> DeliverBatchAsync(string subscriber, OutboxRow[] rows, CancellationToken stoppingToken)
    {
        var subscription = Array.Find(_subscriptions, s => s.Name == subscriber)!;
        try
        {
            var events = rows.Select(r => r.Event(subscription.EventType)).ToList();
            ActivityContext.TryParse(rows[0].TraceParent, null, out var parent);
            var links = rows.Skip(1).Select(r => ActivityContext.TryParse(r.TraceParent, null, out var link) ? new ActivityLink(link) : default)
                .Where(l => l.Context != default).ToList();
            using var activity = Tracing.StartActivity($"deliver {subscription.Name}", ActivityKind.Consumer, parent, links: links);
            activity?.SetTag("messaging.destination.name", subscription.Topic);
            activity?.SetTag("messaging.batch.message_count", rows.Length);
            await using var scope = services.CreateAsyncScope();
            await subscription.DispatchBatchAsync(scope.ServiceProvider, events, stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            LogBatchFailed(subscriber, rows.Length, exception);
            return false;
        }
    }

    /// <summary>Delivers one row: null when delivered, else when to try again (<see cref="long.MaxValue"/>: never, dead-lettered).</summary>
    private async Task<long?> DeliverOneAsync(OutboxRow row, CancellationToken stoppingToken)
    {
        var subscription = Array.Find(_subscriptions, s => s.Name == row.Subscriber);
        try
        {
            if (subscription is null)
            {
                throw new InvalidOperationException($"No subscriber named '{row.Subscriber}' in this host.");
            }

            var @event = row.Event(subscription.EventType);
            ActivityContext.TryParse(row.TraceParent, null, out var parent);
            using var activity = Tracing.StartActivity($"deliver {subscription.Name}", ActivityKind.Consumer, parent);
            activity?.SetTag("messaging.destination.name", subscription.Topic);
            await using (var scope = services.CreateAsyncScope())
            {
                await subscription.DispatchAsync(scope.ServiceProvider, @event, stoppingToken).ConfigureAwait(false);
            }

            return null;
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            var attempts = row.Attempts + 1;
            var dead = attempts >= options.Value.MaxAttempts;
            var delay = Math.Min(options.Value.MaxRetryDelay.TotalMilliseconds, options.Value.FirstRetryDelay.TotalMilliseconds * Math.Pow(2, attempts - 1));
            var due = Now() + (long)delay;
            if (dead)
            {
                LogDeadLetter(row.Subscriber, row.Id, attempts, exception);
            }
            else
            {
                LogDeliveryFailed(row.Subscriber, row.Id, attempts, exception);
            }

            await database.WriteAsync((connection, transaction) =>
            {
                var command = SqliteDatabase.Command(connection, transaction, "UPDATE outbox SET attempts = $attempts, dead = $dead, next_attempt_at = $next WHERE id = $id");
                command.Parameters.AddWithValue("$attempts", attempts);
                command.Parameters.AddWithValue("$dead", dead ? 1 : 0);
                command.Parameters.AddWithValue("$next", due);
                command.Parameters.AddWithValue("$id", row.Id);
                return command.ExecuteNonQuery();
            }, CancellationToken.None).ConfigureAwait(false);
            return dead ? long.MaxValue : due;
        }
    }

    /// <summary>One commit removes a batch of delivered rows: a crash before it only means those events come again (at least once).</summary>
    private Task RemoveAsync(List<long> delivered) => delivered.Count == 0
        ? Task.CompletedTask
        : database.WriteAsync((connection, transaction) =>
        {
            var command = SqliteDatabase.Command(connection, transaction, "DELETE FROM outbox WHERE id = $id");
            var id = command.Parameters.Add("$id", Microsoft.Data.Sqlite.SqliteType.Integer);
            foreach (var rowId in delivered)
            {
                id.Value = rowId;
                command.ExecuteNonQuery();
            }

            return delivered.Count;
        }, CancellationToken.None);

    private long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    public override void Dispose()
    {
        _signal.Dispose();
        base.Dispose();
    }

    /// <summary>An outbox row: the published object when it is still in memory, else its payload.</summary>
    private sealed record OutboxRow(long Id, string Subscriber, object? Published, byte[]? Payload, int Attempts, string? TraceParent)
    {
        public object Event(Type type) => Published ?? JsonSerializer.Deserialize(Payload, type, AiMeshJson.Options)!;
    }

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Delivery of {Count} events to {Subscriber} at once failed; delivering them one by one")]
    private partial void LogBatchFailed(string subscriber, int count, Exception exception);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Event delivery to {Subscriber} failed (outbox row {RowId}, attempt {Attempt}); will retry")]
    private partial void LogDeliveryFailed(string subscriber, long rowId, int attempt, Exception exception);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error, Message = "Event for {Subscriber} dead-lettered after {Attempt} attempts (outbox row {RowId})")]
    private partial void LogDeadLetter(string subscriber, long rowId, int attempt, Exception exception);
}
