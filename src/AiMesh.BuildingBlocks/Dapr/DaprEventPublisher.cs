using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using Dapr.Client;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>Publishes through the sidecar as a CloudEvent on the <c>pubsub</c> component.</summary>
public sealed class DaprEventPublisher(DaprClient dapr) : IEventPublisher
{
    public Task PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class =>
        dapr.PublishEventAsync(Components.PubSub, topic, message, cancellationToken);
}
