using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.CostLedger.Quota;

/// <summary>
/// The quota actor's in-process twin for embedded mode: one lock per subject serialises turns as
/// Dapr's turn-based actors do. Within the one process the state in memory is the authority (an
/// actor's state is read from the store once, as Dapr actors cache theirs), and changes are written
/// to the SQLite state store behind it, in order. A settlement waits for the write of its state, so
/// a spend the caller was told about survives a crash. A reservation does not wait, and open
/// reservations are not written at all: they belong to requests of this process, which a crash
/// ends, so after a restart they must not count (and the written state stays small however many
/// requests are in flight). The rest of a reservation's change (the request and token windows)
/// goes with the next settlement's write, or with the periodic flush of changed actors.
/// </summary>
public sealed partial class EmbeddedQuotaActors(
    IStateStore state,
    IEventPublisher events,
    IOptionsMonitor<QuotaOptions> options,
    TimeProvider time,
    ILogger<EmbeddedQuotaActors> logger) : IQuotaClient, IDisposable, IAsyncDisposable
{
    /// <summary>How often changes that no settlement wrote (reservations, refusals) are written.</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Actor> _actors = new(StringComparer.Ordinal);
    private readonly Lock _timerLock = new();
    private ITimer? _flushTimer;

    public static string StateKey(string subject) => $"actors||{ActorTypes.Quota}||{subject}||{QuotaActor.StateName}";

    public async Task<QuotaDecision> ReserveAsync(string subject, QuotaReservation reservation, CancellationToken cancellationToken)
    {
        var actor = await ActivateAsync(subject, cancellationToken);
        QuotaDecision decision;
        lock (actor)
        {
            (actor.State, decision) = QuotaPolicy.Reserve(actor.State, reservation, Limits(actor.State, subject), time.GetUtcNow());
            actor.Dirty = true;
        }

        EnsureFlushTimer();
        return decision;
    }

    public async Task SettleAsync(string subject, QuotaSettlement settlement, CancellationToken cancellationToken)
    {
        var actor = await ActivateAsync(subject, cancellationToken);
        IReadOnlyList<BudgetAlert> alerts;
        PendingSave save;
        lock (actor)
        {
            (actor.State, alerts) = QuotaPolicy.Settle(actor.State, settlement, Limits(actor.State, subject), subject, time.GetUtcNow());
            actor.Dirty = true;
            save = Save(actor);
        }

        await save.Start();
        foreach (var alert in alerts)
        {
            await events.PublishAsync(Topics.BudgetAlerts, alert, CancellationToken.None);
        }
    }

    public async Task<QuotaStatus> GetStatusAsync(string subject, CancellationToken cancellationToken)
    {
        var actor = await ActivateAsync(subject, cancellationToken);
        lock (actor)
        {
            return QuotaPolicy.Status(actor.State, Limits(actor.State, subject), subject, time.GetUtcNow());
        }
    }

    private SubjectLimits Limits(QuotaState current, string subject) => options.CurrentValue.For(subject, current);

    /// <summary>
    /// The write that will carry the actor's current state (call it holding the actor's lock, and
    /// <see cref="PendingSave.Start"/> after releasing it). Writes of one actor run one at a time,
    /// in order; until the next one takes its snapshot, every change joins it, so a busy actor is
    /// written about once per commit rather than once per turn.
    /// </summary>
    private PendingSave Save(Actor actor)
    {
        if (actor.NextSave is { } queued)
        {
            return new PendingSave(queued, null);
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        actor.NextSave = done.Task;
        var previous = actor.LastSave;
        return new PendingSave(done.Task, () => WriteAsync(actor, previous, done));
    }

    private async Task WriteAsync(Actor actor, Task previous, TaskCompletionSource done)
    {
        await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        QuotaState latest;
        lock (actor)
        {
            latest = Durable(actor.State);
            actor.Dirty = false;
            actor.NextSave = null;
            actor.LastSave = done.Task;
        }

        try
        {
            await state.TrySaveAsync(StateKey(actor.Subject), latest, etag: null, ttl: null, CancellationToken.None).ConfigureAwait(false);
            done.SetResult();
        }
        catch (Exception exception)
        {
            lock (actor)
            {
                actor.Dirty = true;
            }

            LogSaveFailed(logger, actor.Subject, exception);
            done.SetException(exception);
        }
    }

    /// <summary>What is written of a state: all but the open reservations (see the class summary).</summary>
    internal static QuotaState Durable(QuotaState state) =>
        state.Reservations.IsEmpty ? state : state with { Reservations = state.Reservations.Clear() };

    /// <summary>Starts a write for every actor with changes not yet on their way to the store.</summary>
    private Task[] Flush()
    {
        var writes = new List<Task>();
        foreach (var actor in _actors.Values)
        {
            PendingSave save;
            lock (actor)
            {
                save = actor.Dirty ? Save(actor) : new PendingSave(actor.NextSave ?? actor.LastSave, null);
            }

            writes.Add(save.Start());
        }

        return [.. writes];
    }

    private void EnsureFlushTimer()
    {
        if (Volatile.Read(ref _flushTimer) is not null)
        {
            return;
        }

        lock (_timerLock)
        {
            _flushTimer ??= time.CreateTimer(static self => ((EmbeddedQuotaActors)self!).Flush(), this, FlushInterval, FlushInterval);
        }
    }

    /// <summary>The subject's actor, its state read from the store on first use.</summary>
    private async ValueTask<Actor> ActivateAsync(string subject, CancellationToken cancellationToken)
    {
        var actor = _actors.GetOrAdd(subject, static subject => new Actor(subject));
        if (actor.Loaded)
        {
            return actor;
        }

        await actor.Activation.WaitAsync(cancellationToken);
        try
        {
            if (!actor.Loaded)
            {
                actor.State = (await state.GetAsync<QuotaState>(StateKey(subject), cancellationToken))?.Value ?? new QuotaState();
                actor.Loaded = true;
            }
        }
        finally
        {
            actor.Activation.Release();
        }

        return actor;
    }

    /// <summary>On a graceful stop, writes what is still only in memory.</summary>
    public async ValueTask DisposeAsync()
    {
        StopTimer();
        await Task.WhenAll(Flush()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Dispose();
    }

    public void Dispose()
    {
        StopTimer();
        foreach (var actor in _actors.Values)
        {
            actor.Activation.Dispose();
        }
    }

    private void StopTimer()
    {
        lock (_timerLock)
        {
            _flushTimer?.Dispose();
            _flushTimer = null;
        }
    }

    /// <summary>A write to await, and what starts it when this caller is the one to start it.</summary>
    private readonly record struct PendingSave(Task Saved, Func<Task>? Starter)
    {
        public Task Start()
        {
            _ = Starter?.Invoke();
            return Saved;
        }
    }

    /// <summary>One subject's state; the object itself is the turn lock.</summary>
    private sealed class Actor(string subject)
    {
        private volatile bool _loaded;

        public string Subject { get; } = subject;

        public SemaphoreSlim Activation { get; } = new(1, 1);

        public bool Loaded { get => _loaded; set => _loaded = value; }

        public QuotaState State { get; set; } = new();

        /// <summary>Changed since the last write started.</summary>
        public bool Dirty { get; set; }

        /// <summary>The write that will carry the latest state: not started yet, so later changes join it.</summary>
        public Task? NextSave { get; set; }

        /// <summary>The write started last.</summary>
        public Task LastSave { get; set; } = Task.CompletedTask;
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Error, Message = "The state of quota actor {Subject} could not be written")]
    private static partial void LogSaveFailed(ILogger logger, string subject, Exception exception);
}
