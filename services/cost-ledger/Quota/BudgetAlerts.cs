using System.Globalization;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;

namespace AiMesh.CostLedger.Quota;

/// <summary>Keeps the budget alerts of each month for the admin API, and logs each one as it arrives.</summary>
public sealed partial class BudgetAlertLog(IStateStore state, ILogger<BudgetAlertLog> logger) : IEventConsumer<BudgetAlert>
{
    public static string MonthKey(DateTimeOffset at) => $"alerts||budget||{at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture)}";

    public async Task HandleAsync(BudgetAlert message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        LogAlert(LogEvents.BudgetAlert, message.Subject, message.Budget, message.Period, message.ThresholdPercent, message.SpentUsd, message.LimitUsd);
        var key = MonthKey(message.Timestamp);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var current = await state.GetAsync<List<BudgetAlert>>(key, cancellationToken);
            var alerts = current?.Value ?? [];
            // Redelivery of the same alert changes nothing.
            if (alerts.Any(a => a.Subject == message.Subject && a.Budget == message.Budget && a.Period == message.Period && a.ThresholdPercent == message.ThresholdPercent))
            {
                return;
            }

            alerts.Add(message);
            if (await state.TrySaveAsync(key, alerts, current?.ETag ?? StateETag.MustNotExist, ttl: null, cancellationToken))
            {
                return;
            }
        }

        throw new InvalidOperationException("The budget alert could not be stored: too many concurrent writers.");
    }

    public async Task<IReadOnlyList<BudgetAlert>> GetAsync(DateTimeOffset month, CancellationToken cancellationToken) =>
        (await state.GetAsync<List<BudgetAlert>>(MonthKey(month), cancellationToken))?.Value ?? [];

    [LoggerMessage(EventId = 4101, EventName = LogEvents.BudgetAlert, Level = LogLevel.Warning,
        Message = "{EventName}: {Subject} has spent {SpentUsd} of its {Budget} budget of {LimitUsd} USD for {Period} ({ThresholdPercent}%)")]
    private partial void LogAlert(string eventName, string subject, string budget, string period, int thresholdPercent, decimal spentUsd, decimal limitUsd);
}
