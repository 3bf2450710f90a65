namespace AiMesh.Contracts;

/// <summary>Published on <see cref="Topics.Usage"/> once per request, when its answer is complete.</summary>
public sealed record UsageEvent
{
    public required string RequestId { get; init; }
    public required string TenantId { get; init; }
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
}

public sealed record FailedAttempt(string DeploymentId, int Status, double LatencyMs);

/// <summary>One aggregate row of the ledger.</summary>
public sealed record UsageSummaryRow(
    string TenantId,
    string Model,
    string Day,
    long Requests,
    long PromptTokens,
    long CompletionTokens,
    decimal CostUsd);

public sealed record UsageQuery(string? TenantId, DateOnly From, DateOnly To);

/// <summary>router (admin API) → cost-ledger.</summary>
public interface ICostLedgerClient
{
    Task<IReadOnlyList<UsageSummaryRow>> GetUsageAsync(UsageQuery query, CancellationToken cancellationToken);
}
