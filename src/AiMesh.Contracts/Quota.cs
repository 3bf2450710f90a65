namespace AiMesh.Contracts;

/// <summary>
/// Who a quota applies to: quota actor ids are <c>tenant:{id}</c> or <c>deployment:{id}</c>
/// (one actor each, so limits of different subjects never contend).
/// </summary>
public static class QuotaSubjects
{
    public static string Tenant(string tenantId) => $"tenant:{tenantId}";

    public static string Deployment(string deploymentId) => $"deployment:{deploymentId}";
}

/// <summary>Reserve capacity for one request before it goes to a provider.</summary>
public sealed record QuotaReservation(string RequestId, int EstimatedTokens, decimal EstimatedCostUsd);

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
