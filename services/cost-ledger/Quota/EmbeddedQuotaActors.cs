using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.CostLedger.Quota;

/// <summary>
/// The quota actor's in-process twin for embedded mode: one gate per tenant serialises
/// calls as Dapr's turn-based actors do, and the state lives in the SQLite state store.
/// </summary>
public sealed class EmbeddedQuotaActors(IStateStore state, IOptionsMonitor<QuotaOptions> options, TimeProvider time) : IQuotaClient
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public static string StateKey(string tenantId) => $"actors||{ActorTypes.Quota}||{tenantId}||{QuotaActor.StateName}";

    public Task<QuotaDecision> ReserveAsync(string tenantId, QuotaReservation reservation, CancellationToken cancellationToken) =>
        TurnAsync(tenantId, current =>
        {
            var (next, decision) = QuotaPolicy.Reserve(current, reservation, options.CurrentValue.For(tenantId), time.GetUtcNow());
            return (next, decision);
        }, cancellationToken);

    public Task SettleAsync(string tenantId, QuotaSettlement settlement, CancellationToken cancellationToken) =>
        TurnAsync(tenantId, current => (QuotaPolicy.Settle(current, settlement, time.GetUtcNow()), true), cancellationToken);

    private async Task<T> TurnAsync<T>(string tenantId, Func<QuotaState, (QuotaState Next, T Result)> turn, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(tenantId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            var key = StateKey(tenantId);
            var current = await state.GetAsync<QuotaState>(key, cancellationToken);
            var (next, result) = turn(current?.Value ?? new QuotaState());
            // The gate makes this the only writer, so last-write-wins is exact here.
            await state.TrySaveAsync(key, next, etag: null, ttl: null, CancellationToken.None);
            return result;
        }
        finally
        {
            gate.Release();
        }
    }
}
