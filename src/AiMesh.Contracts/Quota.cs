namespace AiMesh.Contracts;

/// <summary>
/// Who a quota applies to: quota actor ids are <c>tenant:{id}</c> or <c>deployment:{id}</c>
/// (one actor each, so limits of different subjects never contend).
/// </summary>
public static class QuotaSubjects
{
    public static string Tenant(string tenantId) => $"tenant:{tenantId}";

    public static string Deployment(string deploymentId) => $"deployment:{deploymentId}";

    public static string Key(string keyId) => $"key:{keyId}";
}

/// <summary>One subject's limits; null means unlimited.</summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed class SubjectLimits
{
    public static readonly SubjectLimits None = new();

    /// <summary>Sustained request rate: the request bucket refills at this many per minute.</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Size of the request bucket: how many requests may come at once after a quiet spell.</summary>
    /// <value>Defaults to <see cref="RequestsPerMinute"/>.</value>
    public int? BurstRequests { get; set; }

    /// <summary>Requests per clock hour (UTC).</summary>
    public int? RequestsPerHour { get; set; }

    /// <summary>Tokens (prompt + completion) per clock minute.</summary>
    public long? TokensPerMinute { get; set; }

    /// <summary>USD per UTC day.</summary>
    public decimal? DailyBudgetUsd { get; set; }

    /// <summary>USD per UTC calendar month.</summary>
    public decimal? MonthlyBudgetUsd { get; set; }

    /// <summary>Whether any limit is set at all.</summary>
    public bool Any() => RequestsPerMinute is not null || RequestsPerHour is not null || TokensPerMinute is not null
        || DailyBudgetUsd is not null || MonthlyBudgetUsd is not null;
}


/// <summary>
/// Reserve capacity for one request before it goes to a provider. <see cref="Limits"/>, when
/// given (limits stored with a tenant or a virtual key), replace the configured ones; the actor
/// keeps the last limits it was given for settling and status.
/// </summary>
public sealed record QuotaReservation(string RequestId, int EstimatedTokens, decimal EstimatedCostUsd)
{
    public SubjectLimits? Limits { get; init; }
}

/// <summary>The actual figures once the request is over (zeros when it failed: the reservation is released).</summary>
public sealed record QuotaSettlement(string RequestId, int ActualTokens, decimal ActualCostUsd);

public sealed record QuotaDecision
{
    public bool Allowed { get; init; }
    /// <summary>"rate_limit" or "budget" when denied.</summary>
    public string? DeniedBy { get; init; }
    public string? Message { get; init; }
    public double RetryAfterSeconds { get; init; }
    /// <summary>When the budget that denied the request resets.</summary>
    public DateTimeOffset? ResetsAt { get; init; }
    public int LimitRequests { get; init; }
    public int RemainingRequests { get; init; }
    public long RemainingTokens { get; init; }
}

/// <summary>Where a subject stands: what the admin API shows.</summary>
public sealed record QuotaStatus(
    string Subject,
    decimal SpentTodayUsd,
    decimal SpentThisMonthUsd,
    decimal ReservedUsd,
    int OpenReservations,
    int RequestsThisHour,
    long TokensThisMinute,
    decimal? DailyBudgetUsd,
    decimal? MonthlyBudgetUsd);

/// <summary>Published on <see cref="Topics.BudgetAlerts"/> when spend first crosses 80, 90 or 100% of a budget in a period.</summary>
public sealed record BudgetAlert(
    string Subject,
    string Budget,
    string Period,
    int ThresholdPercent,
    decimal SpentUsd,
    decimal LimitUsd,
    DateTimeOffset Timestamp);

/// <summary>The quota actors, as the router sees them (Dapr-free).</summary>
public interface IQuotaClient
{
    Task<QuotaDecision> ReserveAsync(string subject, QuotaReservation reservation, CancellationToken cancellationToken);

    Task SettleAsync(string subject, QuotaSettlement settlement, CancellationToken cancellationToken);

    Task<QuotaStatus> GetStatusAsync(string subject, CancellationToken cancellationToken);
}
