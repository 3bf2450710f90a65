using AiMesh.Contracts;
using AiMesh.CostLedger.Ledger;
using AiMesh.CostLedger.Quota;

namespace AiMesh.CostLedger;

/// <summary>cost-ledger's answers to the router's admin API. In embedded mode the router calls this directly.</summary>
public sealed class CostLedgerService(UsageLedger ledger, BudgetAlertLog alerts) : ICostLedgerClient
{
    public Task<IReadOnlyList<UsageGroupRow>> GetUsageAsync(UsageQuery query, CancellationToken cancellationToken) =>
        ledger.GetUsageAsync(query, cancellationToken);

    public Task<UsageEvent?> GetRecordAsync(string requestId, CancellationToken cancellationToken) =>
        ledger.GetRecordAsync(requestId, cancellationToken);

    public Task<IReadOnlyList<BudgetAlert>> GetBudgetAlertsAsync(string month, CancellationToken cancellationToken)
    {
        var first = DateTimeOffset.ParseExact(month + "-01", "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal);
        return alerts.GetAsync(first, cancellationToken);
    }
}
