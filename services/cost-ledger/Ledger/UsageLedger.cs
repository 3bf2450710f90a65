using System.Globalization;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;

namespace AiMesh.CostLedger.Ledger;

/// <summary>A day's totals, one row per tenant, key, provider, deployment and model. Stored under <see cref="UsageLedger.DayKey"/>.</summary>
public sealed record DayTotals(Dictionary<string, UsageTotals> Rows);

public sealed record UsageTotals(
    string Tenant, string? Key, string Provider, string Deployment, string Model,
    long Requests, long CacheHits, long PromptTokens, long CompletionTokens, decimal CostUsd);

/// <summary>
/// Turns usage events into durable ledger records. The record keyed by request id and the
/// day's totals are written in one transaction, the record only if it is new: an event
/// delivered twice is counted once, and a lost race is simply tried again. A batch (the embedded
/// outbox's backlog) writes its new records and the day's totals in one transaction.
/// </summary>
public sealed partial class UsageLedger(IStateStore state, ILogger<UsageLedger> logger) : IBatchEventConsumer<UsageEvent>
{
    private const int MaxConflictRetries = 100;

    public static string RecordKey(string requestId) => $"ledger||usage||{requestId}";

    public static string DayKey(DateOnly day) => $"ledger||day||{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    /// <summary>What the ledger counts: answered requests, and failed ones that still cost tokens.</summary>
    public static bool IsBillable(UsageEvent usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        return usage.Status is >= 200 and < 300 || usage.PromptTokens + usage.CompletionTokens > 0 || usage.CostUsd > 0;
    }

    public Task HandleAsync(UsageEvent message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return HandleBatchAsync([message], cancellationToken);
    }

    /// <summary>Records several events: per day, the new records and the day's totals in one transaction.</summary>
    public async Task HandleBatchAsync(IReadOnlyList<UsageEvent> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var billable = messages.Where(IsBillable).DistinctBy(m => m.RequestId, StringComparer.Ordinal);
        foreach (var day in billable.GroupBy(m => DateOnly.FromDateTime(m.Timestamp.UtcDateTime)))
        {
            await RecordDayAsync(day.Key, [.. day], cancellationToken);
        }
    }

    private async Task RecordDayAsync(DateOnly day, UsageEvent[] messages, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxConflictRetries; attempt++)
        {
            // Duplicates are rare (a redelivery): the first try lets the transaction's must-not-exist checks
            // find them, and only after a refusal is each record looked up to leave the known ones out.
            var fresh = attempt == 0 ? [.. messages] : await UnrecordedAsync(messages, cancellationToken);
            if (fresh.Count == 0)
            {
                return;
            }

            var current = await state.GetAsync<DayTotals>(DayKey(day), cancellationToken);
            var rows = new Dictionary<string, UsageTotals>(current?.Value.Rows ?? [], StringComparer.Ordinal);
            var operations = new List<StateOperation>(fresh.Count + 1);
            foreach (var message in fresh)
            {
                Add(rows, message);
                operations.Add(StateOperation.Upsert(RecordKey(message.RequestId), message, StateETag.MustNotExist));
            }

            operations.Add(StateOperation.Upsert(DayKey(day), new DayTotals(rows), current?.ETag ?? StateETag.MustNotExist));
            if (await state.TryExecuteTransactionAsync(operations, cancellationToken))
            {
                foreach (var message in fresh)
                {
                    LogRecorded(message.RequestId, message.TenantId, message.Model, message.PromptTokens, message.CompletionTokens, message.CostUsd);
                }

                return;
            }
        }

        throw new InvalidOperationException($"The ledger could not record {messages.Length} usage event(s) of {day:yyyy-MM-dd} (first: request {messages[0].RequestId}): too many concurrent writers.");
    }

    /// <summary>The events whose record is not in the ledger yet (each looked up; the others are logged as duplicates).</summary>
    private async Task<List<UsageEvent>> UnrecordedAsync(UsageEvent[] messages, CancellationToken cancellationToken)
    {
        var fresh = new List<UsageEvent>(messages.Length);
        foreach (var message in messages)
        {
            if (await state.GetAsync<UsageEvent>(RecordKey(message.RequestId), cancellationToken) is null)
            {
                fresh.Add(message);
            }
            else
            {
                LogDuplicate(message.RequestId);
            }
        }

        return fresh;
    }

    public async Task<UsageEvent?> GetRecordAsync(string requestId, CancellationToken cancellationToken) =>
        (await state.GetAsync<UsageEvent>(RecordKey(requestId), cancellationToken))?.Value;

    public async Task<IReadOnlyList<UsageGroupRow>> GetUsageAsync(UsageQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var groups = new Dictionary<string, UsageGroupRow>(StringComparer.Ordinal);
        for (var day = query.From; day <= query.To; day = day.AddDays(1))
        {
            var totals = await state.GetAsync<DayTotals>(DayKey(day), cancellationToken);
            foreach (var row in totals?.Value.Rows.Values ?? Enumerable.Empty<UsageTotals>())
            {
                if ((query.Tenant is not null && row.Tenant != query.Tenant) || (query.Provider is not null && row.Provider != query.Provider)
                    || (query.Deployment is not null && row.Deployment != query.Deployment) || (query.Model is not null && row.Model != query.Model))
                {
                    continue;
                }

                var group = Group(row, day, query.GroupBy);
                var key = string.Join('|', group.Tenant, group.Key, group.Provider, group.Deployment, group.Model, group.Day, group.Month);
                var sum = groups.GetValueOrDefault(key) ?? group;
                groups[key] = sum with
                {
                    Requests = sum.Requests + row.Requests,
                    CacheHits = sum.CacheHits + row.CacheHits,
                    PromptTokens = sum.PromptTokens + row.PromptTokens,
                    CompletionTokens = sum.CompletionTokens + row.CompletionTokens,
                    CostUsd = sum.CostUsd + row.CostUsd,
                };
            }
        }

        return groups.Values
            .OrderBy(g => g.Day ?? g.Month, StringComparer.Ordinal).ThenBy(g => g.Tenant, StringComparer.Ordinal)
            .ThenBy(g => g.Provider, StringComparer.Ordinal).ThenBy(g => g.Deployment, StringComparer.Ordinal).ThenBy(g => g.Model, StringComparer.Ordinal)
            .ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToList();
    }

    private static UsageGroupRow Group(UsageTotals row, DateOnly day, IReadOnlyList<string> by) => new()
    {
        Tenant = by.Contains(UsageDimensions.Tenant) ? row.Tenant : null,
        Key = by.Contains(UsageDimensions.Key) ? row.Key ?? "master" : null,
        Provider = by.Contains(UsageDimensions.Provider) ? row.Provider : null,
        Deployment = by.Contains(UsageDimensions.Deployment) ? row.Deployment : null,
        Model = by.Contains(UsageDimensions.Model) ? row.Model : null,
        Day = by.Contains(UsageDimensions.Day) ? day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : null,
        Month = by.Contains(UsageDimensions.Month) ? day.ToString("yyyy-MM", CultureInfo.InvariantCulture) : null,
    };

    private static void Add(Dictionary<string, UsageTotals> rows, UsageEvent usage)
    {
        var provider = usage.Provider ?? "none";
        var deployment = usage.DeploymentId ?? "none";
        var key = string.Join('|', usage.TenantId, usage.KeyId, provider, deployment, usage.Model);
        var row = rows.GetValueOrDefault(key) ?? new UsageTotals(usage.TenantId, usage.KeyId, provider, deployment, usage.Model, 0, 0, 0, 0, 0);
        rows[key] = row with
        {
            Requests = row.Requests + 1,
            CacheHits = row.CacheHits + (usage.Cache == "hit" ? 1 : 0),
            PromptTokens = row.PromptTokens + usage.PromptTokens,
            CompletionTokens = row.CompletionTokens + usage.CompletionTokens,
            CostUsd = row.CostUsd + usage.CostUsd,
        };
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Usage recorded: request {RequestId}, tenant {TenantId}, model {Model}, tokens {PromptTokens}+{CompletionTokens}, cost {CostUsd} USD")]
    private partial void LogRecorded(string requestId, string tenantId, string model, int promptTokens, int completionTokens, decimal costUsd);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Usage event for request {RequestId} was already recorded; ignored")]
    private partial void LogDuplicate(string requestId);
}
