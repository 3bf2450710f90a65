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

/// <summary>
/// The router's quota port over a non-remoting Dapr actor proxy: the argument travels as plain
/// JSON (the remoting proxy's DataContract serializer cannot carry positional records).
/// </summary>
public sealed class DaprQuotaClient(IActorProxyFactory proxies) : IQuotaClient
{
    public Task<QuotaDecision> ReserveAsync(string tenantId, QuotaReservation reservation, CancellationToken cancellationToken) =>
        Proxy(tenantId).InvokeMethodAsync<QuotaReservation, QuotaDecision>(nameof(IQuotaActor.ReserveAsync), reservation, cancellationToken);

    public Task SettleAsync(string tenantId, QuotaSettlement settlement, CancellationToken cancellationToken) =>
        Proxy(tenantId).InvokeMethodAsync(nameof(IQuotaActor.SettleAsync), settlement, cancellationToken);

    private ActorProxy Proxy(string tenantId) => proxies.Create(new ActorId(tenantId), ActorTypes.Quota);
}
