using AiMesh.Contracts;
using AiMesh.CostLedger;
using AiMesh.Testing.Dapr;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AiMesh.Tests.Dapr;

/// <summary>
/// The router's quota port end to end in Dapr mode: IQuotaClient from AddDaprBuildingBlocks → the fake
/// sidecar's actor API → cost-ledger's actor route (real pipeline, QuotaActor) → actor state in the sidecar.
/// </summary>
public sealed class DaprQuotaClientTests
{
    // Mid-minute, so that the one-minute rate window cannot roll over during a test.
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 20, TimeSpan.Zero);

    private static DaprServiceFactory<CostLedgerEntryPoint> CostLedger(FakeDaprSidecar sidecar, IReadOnlyDictionary<string, string>? settings = null) =>
        new(sidecar, settings, services => services.AddSingleton<TimeProvider>(new FakeTimeProvider(Now)));

    [Fact]
    public async Task ReserveAsync_ThroughActorProxy_ReturnsAllowedDecision()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = CostLedger(sidecar);
        sidecar.RegisterActorHost(ActorTypes.Quota, ledger.CreateClient());
        await using var router = DaprCallerSide.Services(sidecar);
        var quota = router.GetRequiredService<IQuotaClient>();

        var decision = await quota.ReserveAsync("t1", new QuotaReservation("req-1", EstimatedTokens: 150, EstimatedCostUsd: 0.001m), CancellationToken.None);

        Assert.True(decision.Allowed);
        Assert.Equal(600, decision.LimitRequests);
        Assert.Equal(599, decision.RemainingRequests);
        Assert.Equal(1_000_000 - 150, decision.RemainingTokens);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("PUT", "/v1.0/actors/QuotaActor/t1/method/ReserveAsync", "QuotaActor"));
        Assert.NotNull(sidecar.GetActorState("QuotaActor", "t1", "quota")?["reservations"]?["req-1"]);
    }

    [Fact]
    public async Task SettleAsync_AfterReserve_ReplacesReservationWithActualFigures()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = CostLedger(sidecar);
        sidecar.RegisterActorHost(ActorTypes.Quota, ledger.CreateClient());
        await using var router = DaprCallerSide.Services(sidecar);
        var quota = router.GetRequiredService<IQuotaClient>();
        await quota.ReserveAsync("t1", new QuotaReservation("req-1", EstimatedTokens: 1_000, EstimatedCostUsd: 0.01m), CancellationToken.None);

        await quota.SettleAsync("t1", new QuotaSettlement("req-1", ActualTokens: 120, ActualCostUsd: 0.0004m), CancellationToken.None);
        var next = await quota.ReserveAsync("t1", new QuotaReservation("req-2", EstimatedTokens: 10, EstimatedCostUsd: 0.0001m), CancellationToken.None);

        var state = sidecar.GetActorState("QuotaActor", "t1", "quota");
        Assert.Null(state?["reservations"]?["req-1"]);
        Assert.Equal(0.0004m, state?["spentTodayUsd"]?.GetValue<decimal>());
        Assert.True(next.Allowed);
        Assert.Equal(1_000_000 - 120 - 10, next.RemainingTokens);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("PUT", "/v1.0/actors/QuotaActor/t1/method/SettleAsync", "QuotaActor"));
    }

    [Fact]
    public async Task ReserveAsync_TenantOverRequestsPerMinute_IsDenied()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = CostLedger(sidecar, new Dictionary<string, string> { ["AiMesh:Quotas:Tenants:t2:RequestsPerMinute"] = "1" });
        sidecar.RegisterActorHost(ActorTypes.Quota, ledger.CreateClient());
        await using var router = DaprCallerSide.Services(sidecar);
        var quota = router.GetRequiredService<IQuotaClient>();

        var first = await quota.ReserveAsync("t2", new QuotaReservation("req-1", 10, 0.0001m), CancellationToken.None);
        var second = await quota.ReserveAsync("t2", new QuotaReservation("req-2", 10, 0.0001m), CancellationToken.None);
        var otherTenant = await quota.ReserveAsync("t1", new QuotaReservation("req-3", 10, 0.0001m), CancellationToken.None);

        Assert.True(first.Allowed);
        Assert.False(second.Allowed);
        Assert.Equal("rate_limit", second.DeniedBy);
        Assert.Equal(1, second.LimitRequests);
        Assert.Equal(0, second.RemainingRequests);
        // One request a minute: the bucket refills one request in 60 s.
        Assert.Equal(60, second.RetryAfterSeconds);
        Assert.True(otherTenant.Allowed);
    }
}
