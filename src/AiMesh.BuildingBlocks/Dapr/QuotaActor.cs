using AiMesh.Contracts;
using Dapr.Actors;
using Dapr.Actors.Client;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>The Dapr actor interface of the tenant quota actor (hosted by cost-ledger, id = tenant id).</summary>
public interface IQuotaActor : IActor
{
    Task<QuotaDecision> ReserveAsync(QuotaReservation reservation);

    Task SettleAsync(QuotaSettlement settlement);
}

/// <summary>The router's quota port over a Dapr actor proxy.</summary>
public sealed class DaprQuotaClient(IActorProxyFactory proxies) : IQuotaClient
{
    public Task<QuotaDecision> ReserveAsync(string tenantId, QuotaReservation reservation, CancellationToken cancellationToken) =>
        Proxy(tenantId).ReserveAsync(reservation);

    public Task SettleAsync(string tenantId, QuotaSettlement settlement, CancellationToken cancellationToken) =>
        Proxy(tenantId).SettleAsync(settlement);

    private IQuotaActor Proxy(string tenantId) =>
        proxies.CreateActorProxy<IQuotaActor>(new ActorId(tenantId), ActorTypes.Quota);
}
