namespace AiMesh.Contracts;

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
    public int LimitRequests { get; init; }
    public int RemainingRequests { get; init; }
    public long RemainingTokens { get; init; }
}

/// <summary>The tenant quota actor, as the router sees it (Dapr-free).</summary>
public interface IQuotaClient
{
    Task<QuotaDecision> ReserveAsync(string tenantId, QuotaReservation reservation, CancellationToken cancellationToken);

    Task SettleAsync(string tenantId, QuotaSettlement settlement, CancellationToken cancellationToken);
}
