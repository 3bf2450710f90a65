using AiMesh.Contracts;

namespace AiMesh.Router.Routing;

/// <summary>
/// The deployments as provider-adapter reports them, refreshed at most once a second, and the
/// candidates for a model in the order they are tried (priority; open breakers left out).
/// </summary>
public sealed class DeploymentDirectory(IProviderAdapterClient providers, TimeProvider time) : IDisposable
{
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private (IReadOnlyList<DeploymentInfo> Deployments, DateTimeOffset Until)? _cached;

    /// <summary>The last list fetched (empty before the first request): for metrics, which must not wait.</summary>
    public IReadOnlyList<DeploymentInfo> Cached => _cached?.Deployments ?? [];

    public async ValueTask<IReadOnlyList<DeploymentInfo>> GetAsync(CancellationToken cancellationToken)
    {
        if (_cached is { } cached && cached.Until > time.GetUtcNow())
        {
            return cached.Deployments;
        }

        await _refresh.WaitAsync(cancellationToken);
        try
        {
            if (_cached is { } again && again.Until > time.GetUtcNow())
            {
                return again.Deployments;
            }

            var deployments = await providers.GetDeploymentsAsync(cancellationToken);
            _cached = (deployments, time.GetUtcNow() + RefreshEvery);
            return deployments;
        }
        finally
        {
            _refresh.Release();
        }
    }

    public void Dispose() => _refresh.Dispose();

    /// <summary>Whether any deployment serves <paramref name="model"/> at all (breakers aside).</summary>
    public static bool Serves(DeploymentInfo deployment, string model) =>
        deployment.Enabled
        && (deployment.Model == model || deployment.Model == "*" || deployment.Aliases.Contains(model, StringComparer.Ordinal));

    public static IReadOnlyList<DeploymentInfo> Candidates(IReadOnlyList<DeploymentInfo> deployments, string model)
    {
        ArgumentNullException.ThrowIfNull(deployments);
        // An exact model or alias match beats a pass-through deployment of the same priority.
        return deployments
            .Where(d => Serves(d, model) && d.BreakerState != "open" && d.BreakerState != "isolated")
            .OrderBy(d => d.Priority)
            .ThenBy(d => d.Model == "*" ? 1 : 0)
            .ToList();
    }
}
