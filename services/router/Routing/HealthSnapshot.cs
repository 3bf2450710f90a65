using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;

namespace AiMesh.Router.Routing;

/// <summary>The router's local copy of the health service's latest snapshot, fed by events: never a call on the request path.</summary>
public sealed class HealthSnapshot : IEventConsumer<DeploymentHealthSnapshot>
{
    private volatile DeploymentHealthSnapshot? _latest;

    public DateTimeOffset? At => _latest?.At;

    public Task HandleAsync(DeploymentHealthSnapshot message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        // Redelivered or late snapshots must not replace a newer one.
        if (_latest is null || message.At >= _latest.At)
        {
            _latest = message;
        }

        return Task.CompletedTask;
    }

    public DeploymentHealth? For(string deploymentId) =>
        _latest?.Deployments.FirstOrDefault(d => d.DeploymentId == deploymentId);
}

/// <summary>Requests this router has in flight per deployment (what least-loaded and adaptive look at).</summary>
public sealed class InFlightTracker
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    public int this[string deploymentId] => _counts.GetValueOrDefault(deploymentId);

    public IDisposable Track(string deploymentId)
    {
        _counts.AddOrUpdate(deploymentId, 1, (_, n) => n + 1);
        return new Release(this, deploymentId);
    }

    private sealed class Release(InFlightTracker tracker, string deploymentId) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                tracker._counts.AddOrUpdate(deploymentId, 0, (_, n) => Math.Max(0, n - 1));
            }
        }
    }
}
