using AiMesh.Contracts;

namespace AiMesh.CostLedger.Quota;

/// <summary>Limits per tenant (section <c>AiMesh:Quotas</c>: <c>Default</c>, and <c>Tenants:{id}</c> overrides).</summary>
public sealed class QuotaOptions
{
    public const string Section = "AiMesh:Quotas";

    public TenantLimits Default { get; set; } = new();

    public Dictionary<string, TenantLimits> Tenants { get; set; } = new(StringComparer.Ordinal);

    public TenantLimits For(string tenantId) => Tenants.GetValueOrDefault(tenantId) ?? Default;
}

public sealed class TenantLimits
{
    /// <value>Defaults to 600.</value>
    public int RequestsPerMinute { get; set; } = 600;

    /// <value>Defaults to 1,000,000.</value>
    public long TokensPerMinute { get; set; } = 1_000_000;

    /// <summary>USD per UTC day; null means no budget.</summary>
    public decimal? DailyBudgetUsd { get; set; }
}

/// <summary>The quota actor's state: a fixed one-minute window, today's spend, open reservations.</summary>
public sealed record QuotaState
{
    public long WindowStartUnixMinute { get; init; }
    public int WindowRequests { get; init; }
    public long WindowTokens { get; init; }
    public DateOnly Day { get; init; }
    public decimal SpentTodayUsd { get; init; }
    public Dictionary<string, OpenReservation> Reservations { get; init; } = new(StringComparer.Ordinal);
}

public sealed record OpenReservation(int Tokens, decimal CostUsd, long WindowStartUnixMinute, DateTimeOffset At);

/// <summary>
/// The quota rules, pure: the same code runs inside the Dapr actor and its embedded twin,
/// each of which serialises calls per tenant and persists the state it returns.
/// </summary>
public static class QuotaPolicy
{
    /// <summary>A reservation never settled (its router died) stops counting after this.</summary>
    public static readonly TimeSpan ReservationLifetime = TimeSpan.FromMinutes(10);

    public static (QuotaState State, QuotaDecision Decision) Reserve(QuotaState state, QuotaReservation reservation, TenantLimits limits, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(limits);
        state = Roll(state, now);
        if (state.Reservations.ContainsKey(reservation.RequestId))
        {
            return (state, Allow(state, limits));
        }

        var untilNextMinute = 60 - (now.ToUnixTimeSeconds() % 60);
        if (state.WindowRequests + 1 > limits.RequestsPerMinute)
        {
            return (state, Deny(state, limits, "rate_limit", $"Rate limit reached: {limits.RequestsPerMinute} requests per minute.", untilNextMinute));
        }

        if (state.WindowTokens + reservation.EstimatedTokens > limits.TokensPerMinute)
        {
            return (state, Deny(state, limits, "rate_limit", $"Rate limit reached: {limits.TokensPerMinute} tokens per minute.", untilNextMinute));
        }

        var reserved = state.Reservations.Values.Sum(r => r.CostUsd);
        if (limits.DailyBudgetUsd is { } budget && state.SpentTodayUsd + reserved + reservation.EstimatedCostUsd > budget)
        {
            var untilMidnight = (now.UtcDateTime.Date.AddDays(1) - now.UtcDateTime).TotalSeconds;
            return (state, Deny(state, limits, "budget", $"Daily budget of {budget} USD is exhausted; it resets at 00:00 UTC.", Math.Ceiling(untilMidnight)));
        }

        var reservations = new Dictionary<string, OpenReservation>(state.Reservations, StringComparer.Ordinal)
        {
            [reservation.RequestId] = new(reservation.EstimatedTokens, reservation.EstimatedCostUsd, state.WindowStartUnixMinute, now),
        };
        state = state with
        {
            WindowRequests = state.WindowRequests + 1,
            WindowTokens = state.WindowTokens + reservation.EstimatedTokens,
            Reservations = reservations,
        };
        return (state, Allow(state, limits));
    }

    /// <summary>Replaces the reservation by the actual figures. Settling twice, or an unknown id, changes nothing.</summary>
    public static QuotaState Settle(QuotaState state, QuotaSettlement settlement, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(settlement);
        state = Roll(state, now);
        if (!state.Reservations.TryGetValue(settlement.RequestId, out var open))
        {
            return state;
        }

        var reservations = new Dictionary<string, OpenReservation>(state.Reservations, StringComparer.Ordinal);
        reservations.Remove(settlement.RequestId);
        var tokens = open.WindowStartUnixMinute == state.WindowStartUnixMinute
            ? Math.Max(0, state.WindowTokens - open.Tokens + settlement.ActualTokens)
            : state.WindowTokens;
        return state with
        {
            WindowTokens = tokens,
            SpentTodayUsd = state.SpentTodayUsd + settlement.ActualCostUsd,
            Reservations = reservations,
        };
    }

    private static QuotaState Roll(QuotaState state, DateTimeOffset now)
    {
        var minute = now.ToUnixTimeSeconds() / 60;
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        if (minute != state.WindowStartUnixMinute)
        {
            state = state with { WindowStartUnixMinute = minute, WindowRequests = 0, WindowTokens = 0 };
        }

        if (today != state.Day)
        {
            state = state with { Day = today, SpentTodayUsd = 0 };
        }

        if (state.Reservations.Values.Any(r => now - r.At > ReservationLifetime))
        {
            state = state with
            {
                Reservations = state.Reservations.Where(r => now - r.Value.At <= ReservationLifetime)
                    .ToDictionary(r => r.Key, r => r.Value, StringComparer.Ordinal),
            };
        }

        return state;
    }

    private static QuotaDecision Allow(QuotaState state, TenantLimits limits) => new()
    {
        Allowed = true,
        LimitRequests = limits.RequestsPerMinute,
        RemainingRequests = Math.Max(0, limits.RequestsPerMinute - state.WindowRequests),
        RemainingTokens = Math.Max(0, limits.TokensPerMinute - state.WindowTokens),
    };

    private static QuotaDecision Deny(QuotaState state, TenantLimits limits, string by, string message, double retryAfter) =>
        Allow(state, limits) with { Allowed = false, DeniedBy = by, Message = message, RetryAfterSeconds = retryAfter };
}
