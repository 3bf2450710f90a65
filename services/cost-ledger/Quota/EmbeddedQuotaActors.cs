using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.CostLedger.Quota;

/// <summary>
/// The quota actor's in-process twin for embedded mode: one gate per subject serialises
/// calls as Dapr's turn-based actors do, and the state lives in the SQLite state store.
/// </summary>
public sealed class EmbeddedQuotaActors(IStateStore state, IEventPublisher events, IOptionsMonitor<QuotaOptions> options, TimeProvider time) : IQuotaClient, IDisposable
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public static string StateKey(string subject) => $"actors||{ActorTypes.Quota}||{subject}||{QuotaActor.StateName}";

    public Task<QuotaDecision> ReserveAsync(string subject, QuotaReservation reservation, CancellationToken cancellationToken) =>
        TurnAsync(subject, current => QuotaPolicy.Reserve(current, reservation, Limits(current, subject), time.GetUtcNow()), save: true, cancellationToken);

    public async Task SettleAsync(string subject, QuotaSettlement settlement, CancellationToken cancellationToken)
    {
        var alerts = await TurnAsync(subject, current => QuotaPolicy.Settle(current, settlement, Limits(current, subject), subject, time.GetUtcNow()), save: true, cancellationToken);
        foreach (var alert in alerts)
        {
            await events.PublishAsync(Topics.BudgetAlerts, alert, CancellationToken.None);
        }
    }

    public Task<QuotaStatus> GetStatusAsync(string subject, CancellationToken cancellationToken) =>
        TurnAsync(subject, current => (current, QuotaPolicy.Status(current, Limits(current, subject), subject, time.GetUtcNow())), save: false, cancellationToken);

    private SubjectLimits Limits(QuotaState current, string subject) => options.CurrentValue.For(subject, current);

    private async Task<T> TurnAsync<T>(string subject, Func<QuotaState, (QuotaState Next, T Result)> turn, bool save, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(subject, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            var key = StateKey(subject);
            var current = await state.GetAsync<QuotaState>(key, cancellationToken);
            var (next, result) = turn(current?.Value ?? new QuotaState());
            if (save)
            {
                // The gate makes this the only writer, so last-write-wins is exact here.
                await state.TrySaveAsync(key, next, etag: null, ttl: null, CancellationToken.None);
            }

            return result;
        }
        finally
        {
            gate.Release();
        }
    }

    public void Dispose()
    {
        foreach (var gate in _gates.Values)
        {
            gate.Dispose();
        }
    }
}
