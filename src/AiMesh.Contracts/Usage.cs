namespace AiMesh.Contracts;

/// <summary>Published on <see cref="Topics.Usage"/> once per request, when its answer is complete.</summary>
public sealed record UsageEvent
{
    /// <summary>AiMesh's id of the request (unique: the ledger records each once by it).</summary>
    public required string RequestId { get; init; }
    /// <summary>The caller's own x-request-id, if it sent one (not unique: callers may repeat it).</summary>
    public string? ClientRequestId { get; init; }
    public required string TenantId { get; init; }
    /// <summary>The virtual key used (null: the master key).</summary>
    public string? KeyId { get; init; }
    public required string Model { get; init; }
    public string? DeploymentId { get; init; }
    public string? Provider { get; init; }
    public int PromptTokens { get; init; }
    public int CompletionTokens { get; init; }
    public decimal CostUsd { get; init; }
    public double LatencyMs { get; init; }
    /// <summary>HTTP status the caller got (or 499 when the caller went away).</summary>
    public int Status { get; init; }
    public bool Streamed { get; init; }
    public string Cache { get; init; } = "miss";
    public required DateTimeOffset Timestamp { get; init; }
    /// <summary>Attempts that failed before the final one (failovers), for passive health.</summary>
    public IReadOnlyList<FailedAttempt> FailedAttempts { get; init; } = [];
    /// <summary>The prompt screening and PII redaction verdict (rule names and counts only), or null.</summary>
    public ContentFindings? Content { get; init; }
}

public sealed record FailedAttempt(string DeploymentId, int Status, double LatencyMs);

/// <summary>The dimensions the ledger can group by.</summary>
public static class UsageDimensions
{
    public const string Tenant = "tenant";
    public const string Key = "key";
    public const string Provider = "provider";
    public const string Deployment = "deployment";
    public const string Model = "model";
    public const string Day = "day";
    public const string Month = "month";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Tenant, Key, Provider, Deployment, Model, Day, Month };
}

/// <summary>One aggregate row of the ledger; a dimension is null when the query did not group by it.</summary>
public sealed record UsageGroupRow
{
    public string? Tenant { get; init; }
    public string? Key { get; init; }
    public string? Provider { get; init; }
    public string? Deployment { get; init; }
    public string? Model { get; init; }
    public string? Day { get; init; }
    public string? Month { get; init; }
    public long Requests { get; init; }
    public long CacheHits { get; init; }
    public long PromptTokens { get; init; }
    public long CompletionTokens { get; init; }
    public decimal CostUsd { get; init; }
}

/// <summary>A ledger query: UTC days from..to (inclusive), optional filters, and the dimensions to group by.</summary>
public sealed record UsageQuery(DateOnly From, DateOnly To, IReadOnlyList<string> GroupBy)
{
    public string? Tenant { get; init; }
    public string? Provider { get; init; }
    public string? Deployment { get; init; }
    public string? Model { get; init; }
}

/// <summary>router (admin API) → cost-ledger.</summary>
public interface ICostLedgerClient
{
    Task<IReadOnlyList<UsageGroupRow>> GetUsageAsync(UsageQuery query, CancellationToken cancellationToken);

    /// <summary>The ledger record of one request, or null.</summary>
    Task<UsageEvent?> GetRecordAsync(string requestId, CancellationToken cancellationToken);

    /// <summary>The budget alerts raised in a calendar month ("yyyy-MM").</summary>
    Task<IReadOnlyList<BudgetAlert>> GetBudgetAlertsAsync(string month, CancellationToken cancellationToken);
}
