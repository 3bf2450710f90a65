using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json.Serialization;
using AiMesh.Contracts;

namespace AiMesh.CostLedger.Quota;

/// <summary>A quota actor's state: the request bucket, the hour and minute windows, spend per period, open reservations, alerts sent.</summary>
public sealed record QuotaState
{
    public double BucketTokens { get; init; } = -1;
    public long BucketUpdatedAtMs { get; init; }
    public long HourStart { get; init; }
    public int HourRequests { get; init; }
    public long MinuteStart { get; init; }
    public long MinuteTokens { get; init; }
    public DateOnly Day { get; init; }
    public decimal SpentTodayUsd { get; init; }
    public string Month { get; init; } = string.Empty;
    public decimal SpentThisMonthUsd { get; init; }
    private readonly ImmutableDictionary<string, OpenReservation> _reservations = ImmutableDictionary.Create<string, OpenReservation>(StringComparer.Ordinal);
    private decimal? _reservedCostUsd = 0m;
    private DateTimeOffset? _oldestReservationAt;

    /// <summary>
    /// The open reservations by request id. Immutable, so that a turn adds or removes one in O(log n)
    /// instead of copying all of them (a tenant can have thousands in flight); setting it forgets the
    /// figures below, which are then recomputed once from it.
    /// </summary>
    public ImmutableDictionary<string, OpenReservation> Reservations
    {
        get => _reservations;
        init
        {
            _reservations = value;
            _reservedCostUsd = null;
            _oldestReservationAt = null;
        }
    }

    /// <summary>The open reservations' estimated cost. Set it after <see cref="Reservations"/> when both change.</summary>
    [JsonIgnore]
    public decimal ReservedCostUsd
    {
        get => _reservedCostUsd ??= _reservations.Values.Sum(r => r.CostUsd);
        init => _reservedCostUsd = value;
    }

    /// <summary>
    /// No open reservation was made before this (it may be earlier than the oldest one, never later):
    /// while it is within <see cref="QuotaPolicy.ReservationLifetime"/>, none can have expired.
    /// Set it after <see cref="Reservations"/> when both change.
    /// </summary>
    [JsonIgnore]
    public DateTimeOffset OldestReservationAt
    {
        get => _oldestReservationAt ??= _reservations.IsEmpty ? DateTimeOffset.MaxValue : _reservations.Values.Min(r => r.At);
        init => _oldestReservationAt = value;
    }

    /// <summary>"daily|2026-11-23|80": each alert once per budget, period and threshold.</summary>
    public HashSet<string> AlertsSent { get; init; } = new(StringComparer.Ordinal);
    /// <summary>The limits last given with a reservation (a tenant's or key's stored limits), if any.</summary>
    public SubjectLimits? Limits { get; init; }
}

public sealed record OpenReservation(int Tokens, decimal CostUsd, long MinuteStart, DateTimeOffset At);

/// <summary>
/// The quota rules, pure: the same code runs inside the Dapr actor and its embedded twin,
/// each of which serialises calls per subject and persists the state it returns.
/// </summary>
public static class QuotaPolicy
{
    /// <summary>A reservation never settled (its router died) stops counting after this.</summary>
    public static readonly TimeSpan ReservationLifetime = TimeSpan.FromMinutes(10);

    public static readonly int[] AlertThresholds = [80, 90, 100];

    public static (QuotaState State, QuotaDecision Decision) Reserve(QuotaState state, QuotaReservation reservation, SubjectLimits limits, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(limits);
        if (reservation.Limits is { } given)
        {
            limits = given;
            state = state with { Limits = given };
        }

        state = Roll(state, limits, now);
        if (state.Reservations.ContainsKey(reservation.RequestId))
        {
            return (state, Allow(state, limits));
        }

        if (limits.RequestsPerMinute is { } rpm && state.BucketTokens < 1)
        {
            var wait = (1 - state.BucketTokens) * 60.0 / rpm;
            return (state, Deny(state, limits, "rate_limit", $"Rate limit reached: {rpm} requests per minute.", Math.Ceiling(wait)));
        }

        if (limits.RequestsPerHour is { } rph && state.HourRequests + 1 > rph)
        {
            return (state, Deny(state, limits, "rate_limit", $"Rate limit reached: {rph} requests per hour.", 3600 - (now.ToUnixTimeSeconds() % 3600)));
        }

        if (limits.TokensPerMinute is { } tpm && state.MinuteTokens + reservation.EstimatedTokens > tpm)
        {
            var message = reservation.EstimatedTokens > tpm
                ? $"This request needs about {reservation.EstimatedTokens} tokens, more than the limit of {tpm} tokens per minute."
                : $"Rate limit reached: {tpm} tokens per minute.";
            return (state, Deny(state, limits, "rate_limit", message, 60 - (now.ToUnixTimeSeconds() % 60)));
        }

        var reserved = state.ReservedCostUsd;
        if (limits.DailyBudgetUsd is { } daily && state.SpentTodayUsd + reserved + reservation.EstimatedCostUsd > daily)
        {
            var resets = new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
            return (state, BudgetDenied(state, limits, "Daily", daily, state.SpentTodayUsd, resets, now));
        }

        if (limits.MonthlyBudgetUsd is { } monthly && state.SpentThisMonthUsd + reserved + reservation.EstimatedCostUsd > monthly)
        {
            var firstOfMonth = new DateTime(now.UtcDateTime.Year, now.UtcDateTime.Month, 1, 0, 0, 0, DateTimeKind.Utc);
            var resets = new DateTimeOffset(firstOfMonth.AddMonths(1), TimeSpan.Zero);
            return (state, BudgetDenied(state, limits, "Monthly", monthly, state.SpentThisMonthUsd, resets, now));
        }

        var oldest = state.OldestReservationAt < now ? state.OldestReservationAt : now;
        state = state with
        {
            BucketTokens = limits.RequestsPerMinute is null ? state.BucketTokens : state.BucketTokens - 1,
            HourRequests = state.HourRequests + 1,
            MinuteTokens = state.MinuteTokens + reservation.EstimatedTokens,
            Reservations = state.Reservations.SetItem(reservation.RequestId, new(reservation.EstimatedTokens, reservation.EstimatedCostUsd, state.MinuteStart, now)),
            ReservedCostUsd = reserved + reservation.EstimatedCostUsd,
            OldestReservationAt = oldest,
        };
        return (state, Allow(state, limits));
    }

    /// <summary>
    /// Replaces the reservation by the actual figures and says which budget alerts are now due.
    /// Settling twice, or an unknown id, changes nothing.
    /// </summary>
    public static (QuotaState State, IReadOnlyList<BudgetAlert> Alerts) Settle(QuotaState state, QuotaSettlement settlement, SubjectLimits limits, string subject, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(settlement);
        ArgumentNullException.ThrowIfNull(limits);
        state = Roll(state, limits, now);
        if (!state.Reservations.TryGetValue(settlement.RequestId, out var open))
        {
            return (state, []);
        }

        var reservations = state.Reservations.Remove(settlement.RequestId);
        var tokens = open.MinuteStart == state.MinuteStart
            ? Math.Max(0, state.MinuteTokens - open.Tokens + settlement.ActualTokens)
            : state.MinuteTokens;
        state = state with
        {
            MinuteTokens = tokens,
            SpentTodayUsd = state.SpentTodayUsd + settlement.ActualCostUsd,
            SpentThisMonthUsd = state.SpentThisMonthUsd + settlement.ActualCostUsd,
            // The removed reservation may have been the oldest: the bound stays, still not later than the oldest left.
            Reservations = reservations,
            ReservedCostUsd = reservations.IsEmpty ? 0m : state.ReservedCostUsd - open.CostUsd,
            OldestReservationAt = reservations.IsEmpty ? DateTimeOffset.MaxValue : state.OldestReservationAt,
        };
        return DueAlerts(state, limits, subject, now);
    }

    public static QuotaStatus Status(QuotaState state, SubjectLimits limits, string subject, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(limits);
        state = Roll(state, limits, now);
        return new QuotaStatus(subject, state.SpentTodayUsd, state.SpentThisMonthUsd, state.ReservedCostUsd,
            state.Reservations.Count, state.HourRequests, state.MinuteTokens, limits.DailyBudgetUsd, limits.MonthlyBudgetUsd);
    }

    private static (QuotaState, IReadOnlyList<BudgetAlert>) DueAlerts(QuotaState state, SubjectLimits limits, string subject, DateTimeOffset now)
    {
        // Called on every settlement: without a budget, or below its lowest threshold, nothing is allocated.
        List<BudgetAlert>? alerts = null;
        HashSet<string>? sent = null;
        if (Crossed(state.SpentTodayUsd, limits.DailyBudgetUsd))
        {
            Check("daily", state.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), state.SpentTodayUsd, limits.DailyBudgetUsd!.Value);
        }

        if (Crossed(state.SpentThisMonthUsd, limits.MonthlyBudgetUsd))
        {
            Check("monthly", state.Month, state.SpentThisMonthUsd, limits.MonthlyBudgetUsd!.Value);
        }

        return sent is null ? (state, []) : (state with { AlertsSent = sent }, alerts!);

        static bool Crossed(decimal spent, decimal? limit) => limit is { } max && max > 0 && spent * 100 >= max * AlertThresholds[0];

        void Check(string budget, string period, decimal spent, decimal max)
        {
            // Only the highest threshold crossed is announced; lower ones are marked as sent with it.
            var crossed = AlertThresholds.Where(t => spent * 100 >= max * t).ToList();
            var fresh = crossed.Where(t => !(sent ?? state.AlertsSent).Contains($"{budget}|{period}|{t}")).ToList();
            if (fresh.Count == 0)
            {
                return;
            }

            sent ??= new HashSet<string>(state.AlertsSent, StringComparer.Ordinal);
            crossed.ForEach(t => sent.Add($"{budget}|{period}|{t}"));
            (alerts ??= []).Add(new BudgetAlert(subject, budget, period, fresh.Max(), spent, max, now));
        }
    }

    private static QuotaState Roll(QuotaState state, SubjectLimits limits, DateTimeOffset now)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        if (limits.RequestsPerMinute is { } rpm)
        {
            var capacity = limits.BurstRequests ?? rpm;
            var tokens = state.BucketTokens < 0
                ? capacity
                : Math.Min(capacity, state.BucketTokens + ((nowMs - state.BucketUpdatedAtMs) * rpm / 60_000.0));
            state = state with { BucketTokens = tokens, BucketUpdatedAtMs = nowMs };
        }

        var minute = now.ToUnixTimeSeconds() / 60;
        if (minute != state.MinuteStart)
        {
            state = state with { MinuteStart = minute, MinuteTokens = 0 };
        }

        var hour = now.ToUnixTimeSeconds() / 3600;
        if (hour != state.HourStart)
        {
            state = state with { HourStart = hour, HourRequests = 0 };
        }

        var today = DateOnly.FromDateTime(now.UtcDateTime);
        // The month can only change with the day: its name is formatted then, not on every call.
        var newDay = today != state.Day || state.Month.Length == 0;
        if (today != state.Day)
        {
            state = state with { Day = today, SpentTodayUsd = 0, AlertsSent = new HashSet<string>(state.AlertsSent.Where(a => a.StartsWith("monthly|", StringComparison.Ordinal)), StringComparer.Ordinal) };
        }

        var month = newDay ? now.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture) : state.Month;
        if (month != state.Month)
        {
            state = state with { Month = month, SpentThisMonthUsd = 0, AlertsSent = new HashSet<string>(state.AlertsSent.Where(a => a.StartsWith("daily|", StringComparison.Ordinal)), StringComparer.Ordinal) };
        }

        // Only when the oldest may have expired are the reservations looked through (which also makes the bound exact).
        if (now - state.OldestReservationAt > ReservationLifetime)
        {
            var expired = state.Reservations.Where(r => now - r.Value.At > ReservationLifetime).Select(r => r.Key).ToList();
            state = state with { Reservations = expired.Count == 0 ? state.Reservations : state.Reservations.RemoveRange(expired) };
        }

        return state;
    }

    private static QuotaDecision Allow(QuotaState state, SubjectLimits limits) => new()
    {
        Allowed = true,
        LimitRequests = limits.RequestsPerMinute ?? 0,
        RemainingRequests = limits.RequestsPerMinute is null ? 0 : Math.Max(0, (int)Math.Floor(state.BucketTokens)),
        RemainingTokens = limits.TokensPerMinute is { } tpm ? Math.Max(0, tpm - state.MinuteTokens) : 0,
    };

    private static QuotaDecision Deny(QuotaState state, SubjectLimits limits, string by, string message, double retryAfter) =>
        Allow(state, limits) with { Allowed = false, DeniedBy = by, Message = message, RetryAfterSeconds = Math.Max(1, retryAfter) };

    private static QuotaDecision BudgetDenied(QuotaState state, SubjectLimits limits, string which, decimal budget, decimal spent, DateTimeOffset resets, DateTimeOffset now) =>
        Deny(state, limits, "budget",
            $"{which} budget of {budget.ToString(CultureInfo.InvariantCulture)} USD is exhausted (spent {spent.ToString(CultureInfo.InvariantCulture)} USD); it resets at {resets.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}.",
            Math.Ceiling((resets - now).TotalSeconds)) with { ResetsAt = resets };
}
