using AiMesh.Contracts;

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

    /// <summary>The limits stored with the subject (from its last reservation) or else the configured ones.</summary>
    public SubjectLimits For(string subject, QuotaState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return state.Limits ?? For(subject);
    }

    /// <summary>The limits of a subject id (<c>tenant:x</c>, <c>deployment:y</c>); deployments have none unless configured.</summary>
    public SubjectLimits For(string subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (subject.StartsWith("deployment:", StringComparison.Ordinal) || subject.StartsWith("key:", StringComparison.Ordinal))
        {
            return subject.StartsWith("key:", StringComparison.Ordinal)
                ? SubjectLimits.None
                : Deployments.GetValueOrDefault(subject["deployment:".Length..]) ?? SubjectLimits.None;
        }

        var tenant = subject.StartsWith("tenant:", StringComparison.Ordinal) ? subject["tenant:".Length..] : subject;
        return Tenants.GetValueOrDefault(tenant) ?? Default;
    }
}
