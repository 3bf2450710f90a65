using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AiMesh.BuildingBlocks.PubSub;

/// <summary>Publishes an event on a topic; delivery is at least once, so handlers must be idempotent.</summary>
public interface IEventPublisher
{
    Task PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class;
}

/// <summary>Handles one event type of one topic. Throwing means "deliver again later".</summary>
public interface IEventConsumer<in T> where T : class
{
    Task HandleAsync(T message, CancellationToken cancellationToken);
}

/// <summary>A subscription declared by a service: which topic, which handler.</summary>
public sealed record EventSubscription(string Topic, string DeadLetterTopic, Type EventType, Type HandlerType)
{
    /// <summary>A stable name for this subscriber (the route in Dapr mode, the outbox subscriber in embedded mode).</summary>
    public string Name => $"{Topic}/{HandlerType.Name}";

    internal async Task DispatchAsync(IServiceProvider services, object @event, CancellationToken cancellationToken)
    {
        var handler = services.GetRequiredService(HandlerType);
        var method = typeof(IEventConsumer<>).MakeGenericType(EventType).GetMethod(nameof(IEventConsumer<object>.HandleAsync))!;
        await ((Task)method.Invoke(handler, [@event, cancellationToken])!).ConfigureAwait(false);
    }
}

public static class EventSubscriptionExtensions
{
    /// <summary>Declares that <typeparamref name="THandler"/> consumes <typeparamref name="TEvent"/> from <paramref name="topic"/>.</summary>
    public static IServiceCollection AddEventConsumer<TEvent, THandler>(this IServiceCollection services, string topic, string deadLetterTopic)
        where TEvent : class
        where THandler : class, IEventConsumer<TEvent>
    {
        services.TryAddSingleton<THandler>();
        services.AddSingleton(new EventSubscription(topic, deadLetterTopic, typeof(TEvent), typeof(THandler)));
        return services;
    }
}
