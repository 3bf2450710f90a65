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

/// <summary>
/// A consumer that can also take several events of its topic at once, which the embedded outbox
/// does when it has a backlog (one transaction for many events). Throwing means "deliver each again
/// later"; the events are then retried one by one through <see cref="IEventConsumer{T}.HandleAsync"/>.
/// </summary>
public interface IBatchEventConsumer<in T> : IEventConsumer<T> where T : class
{
    Task HandleBatchAsync(IReadOnlyList<T> messages, CancellationToken cancellationToken);
}

/// <summary>A subscription declared by a service: which topic, which handler.</summary>
public sealed record EventSubscription(string Topic, string DeadLetterTopic, Type EventType, Type HandlerType)
{
    // Get-only, so that no `with` can change them under the name and the batch flag worked out from them once
    // (the embedded outbox asks for both for every event it delivers).
    public string Topic { get; } = Topic;

    public Type EventType { get; } = EventType;

    public Type HandlerType { get; } = HandlerType;

    /// <summary>A stable name for this subscriber (the route in Dapr mode, the outbox subscriber in embedded mode).</summary>
    public string Name { get; } = $"{Topic}/{HandlerType.Name}";

    /// <summary>Whether the handler takes batches (<see cref="IBatchEventConsumer{T}"/>).</summary>
    internal bool TakesBatches { get; } = typeof(IBatchEventConsumer<>).MakeGenericType(EventType).IsAssignableFrom(HandlerType);

    internal Task DispatchAsync(IServiceProvider services, object @event, CancellationToken cancellationToken) =>
        Dispatchers.For(EventType).Single(services.GetRequiredService(HandlerType), @event, cancellationToken);

    internal Task DispatchBatchAsync(IServiceProvider services, IReadOnlyList<object> events, CancellationToken cancellationToken) =>
        Dispatchers.For(EventType).Batch(services.GetRequiredService(HandlerType), events, cancellationToken);
}

/// <summary>Typed calls into handlers, built once per event type rather than found by reflection per event.</summary>
internal sealed record Dispatchers(
    Func<object, object, CancellationToken, Task> Single,
    Func<object, IReadOnlyList<object>, CancellationToken, Task> Batch)
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, Dispatchers> Cache = new();

    public static Dispatchers For(Type eventType) => Cache.GetOrAdd(eventType, static type =>
        (Dispatchers)typeof(Dispatchers).GetMethod(nameof(Create), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(type).Invoke(null, null)!);

    private static Dispatchers Create<T>() where T : class => new(
        (handler, @event, cancellationToken) => ((IEventConsumer<T>)handler).HandleAsync((T)@event, cancellationToken),
        (handler, events, cancellationToken) => ((IBatchEventConsumer<T>)handler).HandleBatchAsync(events.Cast<T>().ToList(), cancellationToken));
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
