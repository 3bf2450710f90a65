namespace AiMesh.CostLedger.Quota;

/// <summary>
/// Limits per subject (section <c>AiMesh:Quotas</c>): <c>Default</c> for every tenant,
/// <c>Tenants:{id}</c> to override one tenant, <c>Deployments:{id}</c> for a deployment's daily budget.
/// </summary>
public sealed class QuotaOptions
{
    public const string Section = "AiMesh:Quotas";

    public SubjectLimits Default { get; set; } = new() { RequestsPerMinute = 600, TokensPerMinute = 1_000_000 };

    public Dictionary<string, SubjectLimits> Tenants { get; set; } = new(StringComparer.Ordinal);

    public Dictionary<string, SubjectLimits> Deployments { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The limits of a subject id (<c>tenant:x</c>, <c>deployment:y</c>); deployments have none unless configured.</summary>
    public SubjectLimits For(string subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (subject.StartsWith("deployment:", StringComparison.Ordinal))
        {
            return Deployments.GetValueOrDefault(subject["deployment:".Length..]) ?? SubjectLimits.None;
        }

        var tenant = subject.StartsWith("tenant:", StringComparison.Ordinal) ? subject["tenant:".Length..] : subject;
        return Tenants.GetValueOrDefault(tenant) ?? Default;
    }
}

/// <summary>One subject's limits; null means unlimited.</summary>
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
}
