using System.Globalization;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;

namespace AiMesh.CostLedger.Ledger;

/// <summary>A day's totals, one row per tenant and model. Stored under <see cref="UsageLedger.DayKey"/>.</summary>
public sealed record DayTotals(Dictionary<string, UsageTotals> Rows);

public sealed record UsageTotals(string TenantId, string Model, long Requests, long PromptTokens, long CompletionTokens, decimal CostUsd);

/// <summary>
/// Turns usage events into durable ledger records. The record keyed by request id and the
/// day's totals are written in one transaction, the record only if it is new: an event
/// delivered twice is counted once, and a lost race is simply tried again.
/// </summary>
public sealed partial class UsageLedger(IStateStore state, ILogger<UsageLedger> logger) : IEventConsumer<UsageEvent>, ICostLedgerClient
{
    private const int MaxConflictRetries = 100;

    public static string RecordKey(string requestId) => $"ledger||usage||{requestId}";

    public static string DayKey(DateOnly day) => $"ledger||day||{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    public async Task HandleAsync(UsageEvent message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var day = DateOnly.FromDateTime(message.Timestamp.UtcDateTime);
        for (var attempt = 0; attempt < MaxConflictRetries; attempt++)
        {
            if (await state.GetAsync<UsageEvent>(RecordKey(message.RequestId), cancellationToken) is not null)
            {
                LogDuplicate(message.RequestId);
                return;
            }

            var current = await state.GetAsync<DayTotals>(DayKey(day), cancellationToken);
            var totals = Add(current?.Value ?? new DayTotals([]), message);
            var written = await state.TryExecuteTransactionAsync(
                [
                    StateOperation.Upsert(RecordKey(message.RequestId), message, StateETag.MustNotExist),
                    StateOperation.Upsert(DayKey(day), totals, current?.ETag ?? StateETag.MustNotExist),
                ],
                cancellationToken);
            if (written)
            {
                LogRecorded(message.RequestId, message.TenantId, message.Model, message.PromptTokens, message.CompletionTokens, message.CostUsd);
                return;
            }
        }

        throw new InvalidOperationException($"The ledger could not record request {message.RequestId}: too many concurrent writers.");
    }

    public async Task<IReadOnlyList<UsageSummaryRow>> GetUsageAsync(UsageQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var rows = new List<UsageSummaryRow>();
        for (var day = query.From; day <= query.To; day = day.AddDays(1))
        {
            var totals = await state.GetAsync<DayTotals>(DayKey(day), cancellationToken);
            if (totals is null)
            {
                continue;
            }

            var label = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            rows.AddRange(totals.Value.Rows.Values
                .Where(t => query.TenantId is null || t.TenantId == query.TenantId)
                .OrderBy(t => t.TenantId, StringComparer.Ordinal).ThenBy(t => t.Model, StringComparer.Ordinal)
                .Select(t => new UsageSummaryRow(t.TenantId, t.Model, label, t.Requests, t.PromptTokens, t.CompletionTokens, t.CostUsd)));
        }

        return rows;
    }

    private static DayTotals Add(DayTotals totals, UsageEvent usage)
    {
        var key = $"{usage.TenantId}|{usage.Model}";
        var rows = new Dictionary<string, UsageTotals>(totals.Rows, StringComparer.Ordinal);
        var row = rows.GetValueOrDefault(key) ?? new UsageTotals(usage.TenantId, usage.Model, 0, 0, 0, 0);
        rows[key] = row with
        {
            Requests = row.Requests + 1,
            PromptTokens = row.PromptTokens + usage.PromptTokens,
            CompletionTokens = row.CompletionTokens + usage.CompletionTokens,
            CostUsd = row.CostUsd + usage.CostUsd,
        };
        return new DayTotals(rows);
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Usage recorded: request {RequestId}, tenant {TenantId}, model {Model}, tokens {PromptTokens}+{CompletionTokens}, cost {CostUsd} USD")]
    private partial void LogRecorded(string requestId, string tenantId, string model, int promptTokens, int completionTokens, decimal costUsd);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Usage event for request {RequestId} was already recorded; ignored")]
    private partial void LogDuplicate(string requestId);
}
