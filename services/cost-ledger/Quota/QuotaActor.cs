using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using Dapr.Actors.Runtime;
using Microsoft.Extensions.Options;

namespace AiMesh.CostLedger.Quota;

/// <summary>The tenant quota actor in Dapr mode (id = tenant id). Dapr serialises its calls; state goes through the actor state store.</summary>
public sealed class QuotaActor(ActorHost host, IOptionsMonitor<QuotaOptions> options, TimeProvider time) : Actor(host), IQuotaActor
{
    public const string StateName = "quota";

    public async Task<QuotaDecision> ReserveAsync(QuotaReservation reservation)
    {
        var state = await StateManager.GetOrAddStateAsync(StateName, new QuotaState());
        var (next, decision) = QuotaPolicy.Reserve(state, reservation, options.CurrentValue.For(Id.GetId()), time.GetUtcNow());
        await StateManager.SetStateAsync(StateName, next);
        return decision;
    }

    public async Task SettleAsync(QuotaSettlement settlement)
    {
        var state = await StateManager.GetOrAddStateAsync(StateName, new QuotaState());
        await StateManager.SetStateAsync(StateName, QuotaPolicy.Settle(state, settlement, time.GetUtcNow()));
    }
}
