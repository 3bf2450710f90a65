using AiMesh.Contracts;
using AiMesh.CostLedger.Quota;

namespace AiMesh.Tests.CostLedger;

public sealed class QuotaPolicyTests
{
    private const string Subject = "tenant:t1";
    private static readonly DateTimeOffset Noon = new(2026, 11, 23, 12, 0, 20, TimeSpan.Zero);

    private static (QuotaState State, QuotaDecision Decision) Reserve(QuotaState state, string id, SubjectLimits limits, DateTimeOffset at, int tokens = 10, decimal cost = 0) =>
        QuotaPolicy.Reserve(state, new QuotaReservation(id, tokens, cost), limits, at);

    private static QuotaState Settle(QuotaState state, string id, SubjectLimits limits, DateTimeOffset at, int tokens = 10, decimal cost = 0) =>
        QuotaPolicy.Settle(state, new QuotaSettlement(id, tokens, cost), limits, Subject, at).State;

    [Fact]
    public void Reserve_OverRequestsPerMinute_IsDeniedUntilTheBucketRefills()
    {
        var limits = new SubjectLimits { RequestsPerMinute = 2 };
        var (state, first) = Reserve(new QuotaState(), "r1", limits, Noon);
        (state, var second) = Reserve(state, "r2", limits, Noon);
        (state, var third) = Reserve(state, "r3", limits, Noon);
        var (_, later) = Reserve(state, "r4", limits, Noon.AddSeconds(30));

        Assert.True(first.Allowed);
        Assert.Equal(0, second.RemainingRequests);
        Assert.False(third.Allowed);
        Assert.Equal("rate_limit", third.DeniedBy);
        Assert.Equal(30, third.RetryAfterSeconds);
        Assert.True(later.Allowed);
    }

    [Fact]
    public void Reserve_BurstAboveTheRate_AllowsABurstThenTheSustainedRate()
    {
        var limits = new SubjectLimits { RequestsPerMinute = 60, BurstRequests = 5 };
        var state = new QuotaState();
        var allowed = 0;
        for (var i = 0; i < 8; i++)
        {
            (state, var decision) = Reserve(state, $"r{i}", limits, Noon);
            allowed += decision.Allowed ? 1 : 0;
        }

        var (_, oneSecondLater) = Reserve(state, "next", limits, Noon.AddSeconds(1));

        Assert.Equal(5, allowed);
        Assert.True(oneSecondLater.Allowed);
    }

    [Fact]
    public void Reserve_OverRequestsPerHour_IsDeniedUntilTheNextHour()
    {
        var limits = new SubjectLimits { RequestsPerHour = 1 };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon);
        var (_, denied) = Reserve(state, "r2", limits, Noon);
        var (_, nextHour) = Reserve(state, "r3", limits, Noon.AddHours(1));

        Assert.False(denied.Allowed);
        Assert.Equal(3600 - 20, denied.RetryAfterSeconds);
        Assert.True(nextHour.Allowed);
    }

    [Fact]
    public void Reserve_OverTokensPerMinute_IsDenied()
    {
        var limits = new SubjectLimits { TokensPerMinute = 100 };
        var (state, first) = Reserve(new QuotaState(), "r1", limits, Noon, tokens: 80);
        var (_, second) = Reserve(state, "r2", limits, Noon, tokens: 30);

        Assert.True(first.Allowed);
        Assert.False(second.Allowed);
        Assert.Contains("tokens per minute", second.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Settle_ReplacesTheEstimateByActualTokensAndCost()
    {
        var limits = new SubjectLimits { TokensPerMinute = 100 };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon, tokens: 80);
        state = Settle(state, "r1", limits, Noon, tokens: 20, cost: 0.5m);
        var (again, decision) = Reserve(state, "r2", limits, Noon, tokens: 70);

        Assert.True(decision.Allowed);
        Assert.Equal(90, again.MinuteTokens);
        Assert.Equal(0.5m, again.SpentTodayUsd);
        Assert.Equal(0.5m, again.SpentThisMonthUsd);
    }

    [Fact]
    public void Settle_Twice_CountsOnce()
    {
        var limits = new SubjectLimits();
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon);
        state = Settle(state, "r1", limits, Noon, cost: 1m);
        state = Settle(state, "r1", limits, Noon, cost: 1m);

        Assert.Equal(1m, state.SpentTodayUsd);
        Assert.Empty(state.Reservations);
    }

    [Fact]
    public void Settle_WithZeros_ReleasesTheReservation()
    {
        var limits = new SubjectLimits { DailyBudgetUsd = 1m };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon, cost: 1m);
        var (_, blocked) = Reserve(state, "r2", limits, Noon, cost: 1m);
        state = Settle(state, "r1", limits, Noon, tokens: 0, cost: 0m);
        var (_, allowed) = Reserve(state, "r3", limits, Noon, cost: 1m);

        Assert.False(blocked.Allowed);
        Assert.True(allowed.Allowed);
    }

    [Fact]
    public void Reserve_OverDailyBudget_IsDeniedAndSaysWhenItResets()
    {
        var limits = new SubjectLimits { DailyBudgetUsd = 1m };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon);
        state = Settle(state, "r1", limits, Noon, cost: 1m);
        var (_, denied) = Reserve(state, "r2", limits, Noon, cost: 0.01m);
        var (_, tomorrow) = Reserve(state, "r3", limits, Noon.AddDays(1), cost: 0.01m);

        Assert.False(denied.Allowed);
        Assert.Equal("budget", denied.DeniedBy);
        Assert.Contains("Daily budget of 1 USD", denied.Message, StringComparison.Ordinal);
        Assert.Contains("2026-11-24T00:00:00Z", denied.Message, StringComparison.Ordinal);
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 0, 0, 0, TimeSpan.Zero), denied.ResetsAt);
        Assert.True(tomorrow.Allowed);
    }

    [Fact]
    public void Reserve_OverMonthlyBudget_IsDeniedUntilTheNextMonth()
    {
        var limits = new SubjectLimits { MonthlyBudgetUsd = 2m };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon);
        state = Settle(state, "r1", limits, Noon, cost: 1.5m);
        var (state2, _) = Reserve(state, "r2", limits, Noon.AddDays(1));
        state2 = Settle(state2, "r2", limits, Noon.AddDays(1), cost: 0.5m);
        var (_, denied) = Reserve(state2, "r3", limits, Noon.AddDays(2), cost: 0.01m);
        var (_, december) = Reserve(state2, "r4", limits, new DateTimeOffset(2026, 12, 1, 0, 0, 1, TimeSpan.Zero), cost: 0.01m);

        Assert.False(denied.Allowed);
        Assert.Contains("Monthly budget", denied.Message, StringComparison.Ordinal);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), denied.ResetsAt);
        Assert.True(december.Allowed);
    }

    [Fact]
    public void Settle_CrossingThresholds_RaisesEachAlertOncePerPeriod()
    {
        var limits = new SubjectLimits { DailyBudgetUsd = 10m };
        var state = new QuotaState();
        var raised = new List<BudgetAlert>();
        foreach (var (id, cost) in new[] { ("a", 7.9m), ("b", 0.2m), ("c", 0.8m), ("d", 0.2m), ("e", 0.5m), ("f", 0.5m), ("h", 0.4m) })
        {
            (state, _) = Reserve(state, id, limits, Noon);
            (state, var alerts) = QuotaPolicy.Settle(state, new QuotaSettlement(id, 1, cost), limits, Subject, Noon);
            raised.AddRange(alerts);
        }

        var (nextDay, _) = Reserve(state, "g", limits, Noon.AddDays(1));
        var (_, tomorrow) = QuotaPolicy.Settle(nextDay, new QuotaSettlement("g", 1, 8m), limits, Subject, Noon.AddDays(1));

        Assert.Equal([80, 90, 100], raised.Select(a => a.ThresholdPercent));
        Assert.All(raised, a => Assert.Equal("daily", a.Budget));
        Assert.Equal("2026-11-23", raised[0].Period);
        Assert.Equal(10m, raised[^1].LimitUsd);
        Assert.Equal(80, Assert.Single(tomorrow).ThresholdPercent);
    }

    [Fact]
    public void Reserve_SameRequestIdTwice_ReservesOnce()
    {
        var limits = new SubjectLimits { RequestsPerHour = 10 };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon);
        (state, _) = Reserve(state, "r1", limits, Noon);

        Assert.Equal(1, state.HourRequests);
    }

    [Fact]
    public void Reservation_NeverSettled_StopsCountingAfterItsLifetime()
    {
        var limits = new SubjectLimits { DailyBudgetUsd = 1m };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon, cost: 0.9m);
        var (_, blocked) = Reserve(state, "r2", limits, Noon, cost: 0.5m);
        var (_, later) = Reserve(state, "r3", limits, Noon + QuotaPolicy.ReservationLifetime + TimeSpan.FromSeconds(1), cost: 0.5m);

        Assert.False(blocked.Allowed);
        Assert.True(later.Allowed);
    }

    [Fact]
    public void Reservation_OutlivingOneSettledBeforeIt_StillExpiresOnTime()
    {
        // r1 is the oldest; settling it leaves the oldest-reservation bound at r1's time, earlier than r2.
        var limits = new SubjectLimits { DailyBudgetUsd = 1m };
        var (state, _) = Reserve(new QuotaState(), "r1", limits, Noon, cost: 0.1m);
        (state, _) = Reserve(state, "r2", limits, Noon.AddMinutes(5), cost: 0.8m);
        state = Settle(state, "r1", limits, Noon.AddMinutes(6), cost: 0.1m);
        var beforeR2Expires = Noon.AddMinutes(5) + QuotaPolicy.ReservationLifetime - TimeSpan.FromSeconds(1);
        var (checkedOnce, blocked) = Reserve(state, "r3", limits, beforeR2Expires, cost: 0.5m);
        var (_, later) = Reserve(checkedOnce, "r4", limits, Noon.AddMinutes(5) + QuotaPolicy.ReservationLifetime + TimeSpan.FromSeconds(1), cost: 0.5m);

        Assert.False(blocked.Allowed);
        Assert.Equal(["r2"], checkedOnce.Reservations.Keys);
        Assert.True(later.Allowed);
    }

    [Fact]
    public void ReservedCost_FollowsReservesSettlesAndExpiries_AndIsRecomputedAfterAStoreRoundTrip()
    {
        var limits = new SubjectLimits { DailyBudgetUsd = 1_000m };
        var random = new Random(7);
        var state = new QuotaState();
        var open = new List<string>();
        var at = Noon;
        for (var i = 0; i < 400; i++)
        {
            at += TimeSpan.FromSeconds(random.Next(0, 20));
            if (open.Count > 0 && random.Next(3) == 0)
            {
                var id = open[random.Next(open.Count)];
                open.Remove(id);
                state = Settle(state, id, limits, at, cost: 0.01m);
            }
            else
            {
                var id = $"r{i}";
                (state, _) = Reserve(state, id, limits, at, cost: random.Next(1, 1000) / 10_000m);
                open.Add(id);
            }

            Assert.Equal(state.Reservations.Values.Sum(r => r.CostUsd), state.ReservedCostUsd);
            Assert.True(state.OldestReservationAt <= (state.Reservations.IsEmpty ? DateTimeOffset.MaxValue : state.Reservations.Values.Min(r => r.At)));
        }

        // Some reservations were left open long enough to expire along the way.
        Assert.True(open.Count > state.Reservations.Count);
        var stored = System.Text.Json.JsonSerializer.Serialize(state, AiMesh.BuildingBlocks.AiMeshJson.Options);
        var loaded = System.Text.Json.JsonSerializer.Deserialize<QuotaState>(stored, AiMesh.BuildingBlocks.AiMeshJson.Options)!;
        Assert.DoesNotContain("reservedCostUsd", stored, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(state.Reservations.Count, loaded.Reservations.Count);
        Assert.Equal(state.ReservedCostUsd, loaded.ReservedCostUsd);
        Assert.Equal(state.Reservations.Values.Min(r => r.At), loaded.OldestReservationAt);
    }

    [Fact]
    public void Reserve_LeavesTheStateItWasGivenAsItWas()
    {
        var limits = new SubjectLimits { DailyBudgetUsd = 1m };
        var (before, _) = Reserve(new QuotaState(), "r1", limits, Noon, cost: 0.2m);
        var (after, _) = Reserve(before, "r2", limits, Noon, cost: 0.3m);
        var settled = Settle(after, "r1", limits, Noon, cost: 0.2m);

        Assert.Equal(["r1"], before.Reservations.Keys);
        Assert.Equal(0.2m, before.ReservedCostUsd);
        Assert.Equal(["r1", "r2"], after.Reservations.Keys.Order());
        Assert.Equal(0.5m, after.ReservedCostUsd);
        Assert.Equal(["r2"], settled.Reservations.Keys);
        Assert.Equal(0.3m, settled.ReservedCostUsd);
    }

    [Fact]
    public void For_DeploymentWithoutBudget_HasNoLimits()
    {
        var options = new QuotaOptions { Deployments = { ["d1"] = new SubjectLimits { DailyBudgetUsd = 5m } } };

        Assert.Equal(5m, options.For("deployment:d1").DailyBudgetUsd);
        Assert.Same(SubjectLimits.None, options.For("deployment:other"));
        Assert.Equal(600, options.For("tenant:anyone").RequestsPerMinute);
    }
}
