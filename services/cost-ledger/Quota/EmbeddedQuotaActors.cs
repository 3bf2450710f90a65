using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.CostLedger.Quota;

/// <summary>
/// The quota actor's in-process twin for embedded mode: one gate per subject serialises calls as
/// Dapr's turn-based actors do. Within the one process the state in memory is the authority (an
/// actor's state is loaded once, as Dapr actors cache theirs); every change is written to the
/// SQLite state store in the order made. A settlement waits for its write, so a spend the caller
/// was told about survives a crash; a reservation does not wait, since after a crash its request
/// is gone with the process and must not count any more.
/// </summary>
public sealed partial class EmbeddedQuotaActors(
    IStateStore state,
    IEventPublisher events,
    IOptionsMonitor<QuotaOptions> options,
    TimeProvider time,
    ILogger<EmbeddedQuotaActors> logger) : IQuotaClient, IDisposable
{
    private readonly ConcurrentDictionary<string, Actor> _actors = new(StringComparer.Ordinal);

    public static string StateKey(string subject) => $"actors||{ActorTypes.Quota}||{subject}||{QuotaActor.StateName}";

    public async Task<QuotaDecision> ReserveAsync(string subject, QuotaReservation reservation, CancellationToken cancellationToken)
    {
        var (decision, _) = await TurnAsync(subject, current => QuotaPolicy.Reserve(current, reservation, Limits(current, subject), time.GetUtcNow()), cancellationToken);
        return decision;
    }

    public async Task SettleAsync(string subject, QuotaSettlement settlement, CancellationToken cancellationToken)
    {
        var (alerts, saved) = await TurnAsync(subject, current => QuotaPolicy.Settle(current, settlement, Limits(current, subject), subject, time.GetUtcNow()), cancellationToken);
        await saved;
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
    /// One turn: the policy runs on the state in memory. Returns the turn's result and the task of
    /// the write that will carry the turn's state to the store.
    /// </summary>
    private async Task<(T Result, Task Saved)> TurnAsync<T>(string subject, Func<QuotaState, (QuotaState Next, T Result)> turn, CancellationToken cancellationToken)
    {
        var actor = await ActivateAsync(subject, cancellationToken);
        T result;
        Task saved;
        TaskCompletionSource? start = null;
        Task previous = Task.CompletedTask;
        lock (actor)
        {
            (var next, result) = turn(actor.State);
            actor.State = next;
            if (actor.NextSave is null)
            {
                start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                actor.NextSave = start.Task;
                previous = actor.LastSave;
            }

            saved = actor.NextSave;
        }

        if (start is not null)
        {
            _ = SaveAsync(actor, subject, previous, start);
        }

        return (result, saved);
    }

    /// <summary>
    /// Writes the actor's latest state once the write before it is done: writes reach the store in
    /// order, one at a time per subject, and every turn until this write starts joins it.
    /// </summary>
    private async Task SaveAsync(Actor actor, string subject, Task previous, TaskCompletionSource done)
    {
        await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        QuotaState latest;
        lock (actor)
        {
            latest = actor.State;
            actor.NextSave = null;
            actor.LastSave = done.Task;
        }

        try
        {
            await state.TrySaveAsync(StateKey(subject), latest, etag: null, ttl: null, CancellationToken.None).ConfigureAwait(false);
            done.SetResult();
        }
        catch (Exception exception)
        {
            LogSaveFailed(logger, subject, exception);
            done.SetException(exception);
        }
    }

    /// <summary>The subject's actor, its state read from the store on first use.</summary>
    private async ValueTask<Actor> ActivateAsync(string subject, CancellationToken cancellationToken)
    {
        var actor = _actors.GetOrAdd(subject, static _ => new Actor());
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

    public void Dispose()
    {
        foreach (var actor in _actors.Values)
        {
            actor.Activation.Dispose();
        }
    }

    /// <summary>One subject's state; the object itself is the turn lock.</summary>
    private sealed class Actor
    {
        private volatile bool _loaded;

        public SemaphoreSlim Activation { get; } = new(1, 1);

        public bool Loaded { get => _loaded; set => _loaded = value; }

        public QuotaState State { get; set; } = new();

        /// <summary>The write that will carry the latest state: not started yet, so later turns join it.</summary>
        public Task? NextSave { get; set; }

        /// <summary>The write started last.</summary>
        public Task LastSave { get; set; } = Task.CompletedTask;
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Error, Message = "The state of quota actor {Subject} could not be written")]
    private static partial void LogSaveFailed(ILogger logger, string subject, Exception exception);
}
