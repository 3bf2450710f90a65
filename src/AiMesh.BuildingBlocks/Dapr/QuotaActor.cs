using AiMesh.Contracts;
using Dapr.Actors;
using Dapr.Actors.Client;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>The Dapr actor interface of the tenant quota actor (hosted by cost-ledger, id = tenant id).</summary>
public interface IQuotaActor : IActor
{
    Task<QuotaDecision> ReserveAsync(QuotaReservation reservation);

    Task SettleAsync(QuotaSettlement settlement);

    Task<QuotaStatus> GetStatusAsync();
}

/// <summary>
/// The router's quota port over a non-remoting Dapr actor proxy: the argument travels as plain
/// JSON (the remoting proxy's DataContract serializer cannot carry positional records).
/// </summary>
public sealed class DaprQuotaClient(IActorProxyFactory proxies) : IQuotaClient
{
    public Task<QuotaDecision> ReserveAsync(string subject, QuotaReservation reservation, CancellationToken cancellationToken) =>
        Proxy(subject).InvokeMethodAsync<QuotaReservation, QuotaDecision>(nameof(IQuotaActor.ReserveAsync), reservation, cancellationToken);

    public Task SettleAsync(string subject, QuotaSettlement settlement, CancellationToken cancellationToken) =>
        Proxy(subject).InvokeMethodAsync(nameof(IQuotaActor.SettleAsync), settlement, cancellationToken);

    public Task<QuotaStatus> GetStatusAsync(string subject, CancellationToken cancellationToken) =>
        Proxy(subject).InvokeMethodAsync<QuotaStatus>(nameof(IQuotaActor.GetStatusAsync), cancellationToken);

    private ActorProxy Proxy(string subject) => proxies.Create(new ActorId(subject), ActorTypes.Quota);
}
