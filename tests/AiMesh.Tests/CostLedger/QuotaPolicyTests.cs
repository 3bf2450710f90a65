using AiMesh.Contracts;
using AiMesh.CostLedger.Quota;

namespace AiMesh.Tests.CostLedger;

public sealed class QuotaPolicyTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 23, 12, 0, 20, TimeSpan.Zero);

    [Fact]
    public void Reserve_OverRequestsPerMinute_IsDeniedUntilTheNextMinute()
    {
        var limits = new TenantLimits { RequestsPerMinute = 2 };
        var state = new QuotaState();
        (state, var first) = QuotaPolicy.Reserve(state, new QuotaReservation("r1", 10, 0), limits, Noon);
        (state, var second) = QuotaPolicy.Reserve(state, new QuotaReservation("r2", 10, 0), limits, Noon);
        (state, var third) = QuotaPolicy.Reserve(state, new QuotaReservation("r3", 10, 0), limits, Noon);
        var (_, nextMinute) = QuotaPolicy.Reserve(state, new QuotaReservation("r4", 10, 0), limits, Noon.AddSeconds(40));

        Assert.True(first.Allowed);
        Assert.Equal(0, second.RemainingRequests);
        Assert.False(third.Allowed);
        Assert.Equal("rate_limit", third.DeniedBy);
        Assert.Equal(40, third.RetryAfterSeconds);
        Assert.True(nextMinute.Allowed);
    }

    [Fact]
    public void Reserve_OverTokensPerMinute_IsDenied()
    {
        var limits = new TenantLimits { TokensPerMinute = 100 };
        var (state, first) = QuotaPolicy.Reserve(new QuotaState(), new QuotaReservation("r1", 80, 0), limits, Noon);
        var (_, second) = QuotaPolicy.Reserve(state, new QuotaReservation("r2", 30, 0), limits, Noon);

        Assert.True(first.Allowed);
        Assert.False(second.Allowed);
        Assert.Contains("tokens per minute", second.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Settle_ReplacesTheEstimateByActualTokens()
    {
        var limits = new TenantLimits { TokensPerMinute = 100 };
        var (state, _) = QuotaPolicy.Reserve(new QuotaState(), new QuotaReservation("r1", 80, 0), limits, Noon);
        state = QuotaPolicy.Settle(state, new QuotaSettlement("r1", 20, 0.5m), Noon);
        var (again, decision) = QuotaPolicy.Reserve(state, new QuotaReservation("r2", 70, 0), limits, Noon);

        Assert.True(decision.Allowed);
        Assert.Equal(90, again.WindowTokens);
        Assert.Equal(0.5m, again.SpentTodayUsd);
    }

    [Fact]
    public void Settle_Twice_CountsOnce()
    {
        var (state, _) = QuotaPolicy.Reserve(new QuotaState(), new QuotaReservation("r1", 10, 0), new TenantLimits(), Noon);
        state = QuotaPolicy.Settle(state, new QuotaSettlement("r1", 10, 1m), Noon);
        state = QuotaPolicy.Settle(state, new QuotaSettlement("r1", 10, 1m), Noon);

        Assert.Equal(1m, state.SpentTodayUsd);
        Assert.Empty(state.Reservations);
    }

    [Fact]
    public void Reserve_OverDailyBudget_IsDeniedAndSaysWhenItResets()
    {
        var limits = new TenantLimits { DailyBudgetUsd = 1m };
        var (state, _) = QuotaPolicy.Reserve(new QuotaState(), new QuotaReservation("r1", 10, 0), limits, Noon);
        state = QuotaPolicy.Settle(state, new QuotaSettlement("r1", 10, 1m), Noon);
        var (_, denied) = QuotaPolicy.Reserve(state, new QuotaReservation("r2", 10, 0.01m), limits, Noon);
        var (_, tomorrow) = QuotaPolicy.Reserve(state, new QuotaReservation("r3", 10, 0.01m), limits, Noon.AddDays(1));

        Assert.False(denied.Allowed);
        Assert.Equal("budget", denied.DeniedBy);
        Assert.Contains("00:00 UTC", denied.Message, StringComparison.Ordinal);
        Assert.True(tomorrow.Allowed);
    }

    [Fact]
    public void Reserve_SameRequestIdTwice_ReservesOnce()
    {
        var (state, _) = QuotaPolicy.Reserve(new QuotaState(), new QuotaReservation("r1", 10, 0), new TenantLimits(), Noon);
        (state, _) = QuotaPolicy.Reserve(state, new QuotaReservation("r1", 10, 0), new TenantLimits(), Noon);

        Assert.Equal(1, state.WindowRequests);
    }

    [Fact]
    public void Reservation_NeverSettled_StopsCountingAfterItsLifetime()
    {
        var limits = new TenantLimits { DailyBudgetUsd = 1m };
        var (state, _) = QuotaPolicy.Reserve(new QuotaState(), new QuotaReservation("r1", 10, 0.9m), limits, Noon);
        var (_, blocked) = QuotaPolicy.Reserve(state, new QuotaReservation("r2", 10, 0.5m), limits, Noon);
        var (_, later) = QuotaPolicy.Reserve(state, new QuotaReservation("r3", 10, 0.5m), limits, Noon + QuotaPolicy.ReservationLifetime + TimeSpan.FromSeconds(1));

        Assert.False(blocked.Allowed);
        Assert.True(later.Allowed);
    }
}
