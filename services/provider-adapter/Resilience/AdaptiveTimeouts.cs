using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;

namespace AiMesh.ProviderAdapter.Resilience;

/// <summary>Takes each deployment's adaptive timeout from the health service's snapshots.</summary>
public sealed class AdaptiveTimeouts(DeploymentRegistry registry) : IEventConsumer<DeploymentHealthSnapshot>
{
    private DateTimeOffset _latest = DateTimeOffset.MinValue;

    public Task HandleAsync(DeploymentHealthSnapshot message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (registry)
        {
            // A redelivered older snapshot must not undo a newer one.
            if (message.At < _latest)
            {
                return Task.CompletedTask;
            }

            _latest = message.At;
            foreach (var deployment in message.Deployments)
            {
                registry.Find(deployment.DeploymentId)?.SetAdaptiveTimeout(deployment.TimeoutMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null);
            }
        }

        return Task.CompletedTask;
    }
}
