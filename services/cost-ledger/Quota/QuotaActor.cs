using AiMesh.BuildingBlocks.Dapr;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using Dapr.Actors.Runtime;
using Microsoft.Extensions.Options;

namespace AiMesh.CostLedger.Quota;

/// <summary>The quota actor in Dapr mode (id = subject, e.g. <c>tenant:acme</c>). Dapr serialises its calls; state goes through the actor state store.</summary>
public sealed class QuotaActor(ActorHost host, IOptionsMonitor<QuotaOptions> options, IEventPublisher events, TimeProvider time) : Actor(host), IQuotaActor
{
    public const string StateName = "quota";

    public async Task<QuotaDecision> ReserveAsync(QuotaReservation reservation)
    {
        var state = await StateManager.GetOrAddStateAsync(StateName, new QuotaState());
        var (next, decision) = QuotaPolicy.Reserve(state, reservation, Limits(state), time.GetUtcNow());
        await StateManager.SetStateAsync(StateName, next);
        return decision;
    }

    public async Task SettleAsync(QuotaSettlement settlement)
    {
        var state = await StateManager.GetOrAddStateAsync(StateName, new QuotaState());
        var (next, alerts) = QuotaPolicy.Settle(state, settlement, Limits(state), Id.GetId(), time.GetUtcNow());
        await StateManager.SetStateAsync(StateName, next);
        await StateManager.SaveStateAsync();
        foreach (var alert in alerts)
        {
            await events.PublishAsync(Topics.BudgetAlerts, alert, CancellationToken.None);
        }
    }

    private SubjectLimits Limits(QuotaState state) => options.CurrentValue.For(Id.GetId(), state);

    public async Task<QuotaStatus> GetStatusAsync()
    {
        var state = await StateManager.GetOrAddStateAsync(StateName, new QuotaState());
        return QuotaPolicy.Status(state, Limits(state), Id.GetId(), time.GetUtcNow());
    }
}
