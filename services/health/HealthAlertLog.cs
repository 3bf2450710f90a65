using System.Globalization;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;

namespace AiMesh.Health;

/// <summary>Health alerts of each month, kept in the state store for the admin API.</summary>
public sealed class HealthAlertLog(IStateStore state)
{
    private static string MonthKey(string month) => $"alerts||health||{month}";

    public async Task AddAsync(HealthAlert alert, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var key = MonthKey(alert.At.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture));
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var current = await state.GetAsync<List<HealthAlert>>(key, cancellationToken);
            var list = current?.Value ?? [];
            list.Add(alert);
            if (await state.TrySaveAsync(key, list, current?.ETag ?? StateETag.MustNotExist, ttl: null, cancellationToken))
            {
                return;
            }
        }
    }

    public async Task<IReadOnlyList<HealthAlert>> GetAsync(string month, CancellationToken cancellationToken) =>
        (await state.GetAsync<List<HealthAlert>>(MonthKey(month), cancellationToken))?.Value ?? [];
}
