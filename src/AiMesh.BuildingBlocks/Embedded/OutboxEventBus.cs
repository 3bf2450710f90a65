using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using AiMesh.BuildingBlocks.PubSub;
using Microsoft.Data.Sqlite;
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
/// The embedded pub/sub: a publish is written to an outbox table in the SQLite file (one row for
/// all of the topic's subscribers; a subscriber whose delivery fails gets a row of its own) before
/// it returns, and a background loop delivers each row until its handlers succeed. So delivery is at least once, across crashes and restarts too. The table is
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
    public const string ActivitySourceName = "AiMesh.BuildingBlocks";
    private static readonly ActivitySource Tracing = new(ActivitySourceName);
    private const int PageSize = 256;
    /// <summary>The subscriber column of a row for every subscriber of its topic.</summary>
    private const string EverySubscriber = "*";
    private const string PageSizeText = "256";
    /// <summary>Published objects kept in memory, beyond which the loop reads payloads from the table.</summary>
    private const int MaxInMemory = 16_384;
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private readonly ConcurrentDictionary<long, object> _published = new();
    private int _signalled;

    public async Task PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class
    {
        if (!_byTopic.ContainsKey(topic))
        {
            return;
        }

        var payload = JsonSerializer.SerializeToUtf8Bytes(message, AiMeshJson.Options);
        // The W3C traceparent travels with the event, as Dapr carries it in the CloudEvent.
        var traceParent = Activity.Current?.Id;
        long? id = null;
        try
        {
            // One row for all of the topic's subscribers: a subscriber whose delivery fails gets a row of its own then.
            await database.WriteAsync((connection, transaction) =>
            {
                var command = SqliteDatabase.Command(connection, transaction, "INSERT INTO outbox (subscriber, topic, payload, trace_parent) VALUES ($subscriber, $topic, $payload, $trace) RETURNING id");
                command.Parameters.AddWithValue("$trace", (object?)traceParent ?? DBNull.Value);
                command.Parameters.AddWithValue("$subscriber", EverySubscriber);
                command.Parameters.AddWithValue("$topic", topic);
                command.Parameters.AddWithValue("$payload", payload);
                var rowId = (long)command.ExecuteScalar()!;
                // A second run (its group was rolled back and run again) leaves nothing under the first run's id.
                if (id is { } earlier && earlier != rowId)
                {
                    _published.TryRemove(KeyValuePair.Create(earlier, (object)message));
                }

                id = rowId;

                // Kept before the commit, so the loop never meets a committed row whose object comes later. An id
                // can come again (after a rolled-back group, or once its row is deleted): whatever an earlier publish left under it goes.
                if (_published.Count < MaxInMemory)
                {
                    _published[rowId] = message;
                }
                else
                {
                    _published.TryRemove(rowId, out _);
                }

                return rowId;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not committed: no row will ever claim this object. Only this publish's own object goes: a later
            // publish may already have the id again.
            if (id is { } uncommitted)
            {
                _published.TryRemove(KeyValuePair.Create(uncommitted, (object)message));
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
            var command = SqliteDatabase.Command(connection, null, "SELECT id, subscriber, topic, attempts, next_attempt_at, trace_parent, payload FROM outbox WHERE dead = 0 ORDER BY id LIMIT " + PageSizeText);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var due = reader.GetInt64(4);
                if (due <= now)
                {
                    // The payload column is read (and later deserialized) only when the object is not in memory.
                    var id = reader.GetInt64(0);
                    var published = _published.TryRemove(id, out var kept) ? kept : null;
                    rows.Add(new OutboxRow(id, reader.GetString(1), reader.GetString(2), published, published is null ? (byte[])reader[6] : null, reader.GetInt32(3), reader.IsDBNull(5) ? null : reader.GetString(5)));
                }
                else
                {
                    nextDue = nextDue is null ? due : Math.Min(nextDue.Value, due);
                }
            }

            return rows.Count;
        });

        if (rows.Count == 0)
        {
            return (0, nextDue);
        }

        var deliveries = rows.SelectMany(DeliveriesOf).ToList();
        try
        {
            foreach (var batch in deliveries.Where(d => d.Subscription?.TakesBatches == true).GroupBy(d => d.Subscription!).Where(g => g.Count() > 1))
            {
                if (await DeliverBatchAsync(batch.Key, [.. batch], stoppingToken).ConfigureAwait(false))
                {
                    foreach (var delivery in batch)
                    {
                        delivery.Delivered = true;
                    }
                }
            }

            foreach (var delivery in deliveries.Where(d => !d.Delivered))
            {
                await DeliverOneAsync(delivery, stoppingToken).ConfigureAwait(false);
                if (delivery.RetryAt is { } retryAt && !delivery.Dead)
                {
                    nextDue = nextDue is null ? retryAt : Math.Min(nextDue.Value, retryAt);
                }
            }
        }
        finally
        {
            await SettleAsync(rows, deliveries).ConfigureAwait(false);
        }

        return (deliveries.Count(d => d.Delivered), nextDue);
    }

    /// <summary>A row's deliveries: to its own subscriber, or to every subscriber of its topic.</summary>
    private IEnumerable<Delivery> DeliveriesOf(OutboxRow row)
    {
        if (row.Subscriber != EverySubscriber)
        {
            return [new Delivery(row, row.Subscriber, Array.Find(_subscriptions, s => s.Name == row.Subscriber))];
        }

        // A topic nobody in this host subscribes to any more yields no delivery: the row is done.
        return _byTopic.TryGetValue(row.Topic, out var subscribers) ? subscribers.Select(s => new Delivery(row, s.Name, s)) : [];
    }

    /// <summary>
    /// Several events for one batching subscriber in one call (one ledger transaction instead of one per
    /// event). False when it failed: the events are then delivered one by one, with their own retries.
    /// </summary>
    private async Task<bool> DeliverBatchAsync(EventSubscription subscription, Delivery[] deliveries, CancellationToken stoppingToken)
    {
        try
        {
            var events = deliveries.Select(d => d.Row.Event(subscription.EventType)).ToList();
            ActivityContext.TryParse(deliveries[0].Row.TraceParent, null, out var parent);
            var links = deliveries.Skip(1).Select(d => ActivityContext.TryParse(d.Row.TraceParent, null, out var link) ? new ActivityLink(link) : default)
                .Where(l => l.Context != default).ToList();
            using var activity = Tracing.StartActivity($"deliver {subscription.Name}", ActivityKind.Consumer, parent, links: links);
            activity?.SetTag("messaging.destination.name", subscription.Topic);
            activity?.SetTag("messaging.batch.message_count", deliveries.Length);
            await using var scope = services.CreateAsyncScope();
            await subscription.DispatchBatchAsync(scope.ServiceProvider, events, stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            LogBatchFailed(subscription.Name, deliveries.Length, exception);
            return false;
        }
    }

    /// <summary>Delivers one event to one subscriber; on failure, records when to try again (or that it is dead-lettered).</summary>
    private async Task DeliverOneAsync(Delivery delivery, CancellationToken stoppingToken)
    {
        var row = delivery.Row;
        try
        {
            var subscription = delivery.Subscription ?? throw new InvalidOperationException($"No subscriber named '{delivery.Subscriber}' in this host.");
            var @event = row.Event(subscription.EventType);
            ActivityContext.TryParse(row.TraceParent, null, out var parent);
            using var activity = Tracing.StartActivity($"deliver {subscription.Name}", ActivityKind.Consumer, parent);
            activity?.SetTag("messaging.destination.name", subscription.Topic);
            await using (var scope = services.CreateAsyncScope())
            {
                await subscription.DispatchAsync(scope.ServiceProvider, @event, stoppingToken).ConfigureAwait(false);
            }

            delivery.Delivered = true;
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            var attempts = row.Attempts + 1;
            delivery.Dead = attempts >= options.Value.MaxAttempts;
            var delay = Math.Min(options.Value.MaxRetryDelay.TotalMilliseconds, options.Value.FirstRetryDelay.TotalMilliseconds * Math.Pow(2, attempts - 1));
            delivery.RetryAt = Now() + (long)delay;
            if (delivery.Dead)
            {
                LogDeadLetter(delivery.Subscriber, row.Id, attempts, exception);
            }
            else
            {
                LogDeliveryFailed(delivery.Subscriber, row.Id, attempts, exception);
            }
        }
    }

    /// <summary>
    /// One commit for a pass: a row whose deliveries all succeeded is deleted; a failed delivery's row counts
    /// the attempt, and a row for every subscriber is replaced by rows of the subscribers that failed. A crash
    /// before it only means those events come again (at least once). A row with a delivery not tried (the
    /// host stopping) is left as it is.
    /// </summary>
    private Task SettleAsync(List<OutboxRow> rows, List<Delivery> deliveries)
    {
        var byRow = deliveries.ToLookup(d => d.Row.Id);
        var settled = rows.Where(r => byRow[r.Id].All(d => d.Delivered || d.RetryAt is not null)).ToList();
        if (settled.Count == 0)
        {
            return Task.CompletedTask;
        }

        return database.WriteAsync((connection, transaction) =>
        {
            var done = new List<long>(settled.Count);
            foreach (var row in settled)
            {
                var failed = byRow[row.Id].Where(d => !d.Delivered).ToList();
                if (failed.Count == 0)
                {
                    done.Add(row.Id);
                    continue;
                }

                if (row.Subscriber != EverySubscriber && failed.Count == 1)
                {
                    var update = SqliteDatabase.Command(connection, transaction, "UPDATE outbox SET attempts = $attempts, dead = $dead, next_attempt_at = $next WHERE id = $id");
                    update.Parameters.AddWithValue("$attempts", row.Attempts + 1);
                    update.Parameters.AddWithValue("$dead", failed[0].Dead ? 1 : 0);
                    update.Parameters.AddWithValue("$next", failed[0].RetryAt!.Value);
                    update.Parameters.AddWithValue("$id", row.Id);
                    update.ExecuteNonQuery();
                    continue;
                }

                var delete = SqliteDatabase.Command(connection, transaction, "DELETE FROM outbox WHERE id = $id");
                delete.Parameters.AddWithValue("$id", row.Id);
                delete.ExecuteNonQuery();
                foreach (var delivery in failed)
                {
                    var insert = SqliteDatabase.Command(connection, transaction, "INSERT INTO outbox (subscriber, topic, payload, attempts, dead, next_attempt_at, trace_parent) VALUES ($subscriber, $topic, $payload, $attempts, $dead, $next, $trace)");
                    insert.Parameters.AddWithValue("$subscriber", delivery.Subscriber);
                    insert.Parameters.AddWithValue("$topic", row.Topic);
                    insert.Parameters.AddWithValue("$payload", row.Payload ?? JsonSerializer.SerializeToUtf8Bytes(row.Published, row.Published!.GetType(), AiMeshJson.Options));
                    insert.Parameters.AddWithValue("$attempts", row.Attempts + 1);
                    insert.Parameters.AddWithValue("$dead", delivery.Dead ? 1 : 0);
                    insert.Parameters.AddWithValue("$next", delivery.RetryAt!.Value);
                    insert.Parameters.AddWithValue("$trace", (object?)row.TraceParent ?? DBNull.Value);
                    insert.ExecuteNonQuery();
                }
            }

            DeleteRuns(connection, transaction, done);
            return settled.Count;
        }, CancellationToken.None);
    }

    /// <summary>
    /// Deletes delivered rows a run of consecutive ids at a time: ids are integers, so a range of n consecutive
    /// ids holds exactly those n rows, and one statement takes a pass's backlog instead of one per event.
    /// </summary>
    internal static void DeleteRuns(SqliteConnection connection, SqliteTransaction transaction, List<long> ids)
    {
        ids.Sort();
        for (var start = 0; start < ids.Count;)
        {
            var end = start;
            while (end + 1 < ids.Count && ids[end + 1] == ids[end] + 1)
            {
                end++;
            }

            var delete = SqliteDatabase.Command(connection, transaction, "DELETE FROM outbox WHERE id BETWEEN $first AND $last");
            delete.Parameters.AddWithValue("$first", ids[start]);
            delete.Parameters.AddWithValue("$last", ids[end]);
            delete.ExecuteNonQuery();
            start = end + 1;
        }
    }

    private long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    public override void Dispose()
    {
        _signal.Dispose();
        base.Dispose();
    }

    /// <summary>An outbox row: the published object when it is still in memory, else its payload.</summary>
    private sealed record OutboxRow(long Id, string Subscriber, string Topic, object? Published, byte[]? Payload, int Attempts, string? TraceParent)
    {
        public object Event(Type type) => Published ?? JsonSerializer.Deserialize(Payload, type, AiMeshJson.Options)!;
    }

    /// <summary>One row's event for one subscriber (<see cref="Subscription"/> null: none of that name here), and how it went.</summary>
    private sealed class Delivery(OutboxRow row, string subscriber, EventSubscription? subscription)
    {
        public OutboxRow Row { get; } = row;

        public string Subscriber { get; } = subscriber;

        public EventSubscription? Subscription { get; } = subscription;

        public bool Delivered { get; set; }

        /// <summary>Set when it failed: when to try again.</summary>
        public long? RetryAt { get; set; }

        /// <summary>Failed for the last time: dead-lettered.</summary>
        public bool Dead { get; set; }
    }

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Delivery of {Count} events to {Subscriber} at once failed; delivering them one by one")]
    private partial void LogBatchFailed(string subscriber, int count, Exception exception);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Event delivery to {Subscriber} failed (outbox row {RowId}, attempt {Attempt}); will retry")]
    private partial void LogDeliveryFailed(string subscriber, long rowId, int attempt, Exception exception);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error, Message = "Event for {Subscriber} dead-lettered after {Attempt} attempts (outbox row {RowId})")]
    private partial void LogDeadLetter(string subscriber, long rowId, int attempt, Exception exception);
}
