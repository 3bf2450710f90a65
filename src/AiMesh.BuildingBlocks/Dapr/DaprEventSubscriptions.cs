using System.Text.Json;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using Dapr;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace AiMesh.BuildingBlocks.Dapr;

public static class DaprEventSubscriptions
{
    /// <summary>
    /// Maps one route per declared <see cref="EventSubscription"/> and advertises it on
    /// <c>/dapr/subscribe</c>. A handler that throws answers 500, so the sidecar retries
    /// (then dead-letters); a body that is not the event is answered DROP, since no retry
    /// could ever make it valid.
    /// </summary>
    public static IEndpointRouteBuilder MapEventSubscriptions(this IEndpointRouteBuilder endpoints)
    {
        foreach (var subscription in endpoints.ServiceProvider.GetServices<EventSubscription>())
        {
            endpoints.MapPost($"/events/{subscription.Name}", async (HttpContext context) =>
                {
                    object? @event;
                    try
                    {
                        @event = await JsonSerializer.DeserializeAsync(context.Request.Body, subscription.EventType, AiMeshJson.Options, context.RequestAborted);
                    }
                    catch (JsonException)
                    {
                        @event = null;
                    }

                    if (@event is null)
                    {
                        return Results.Json(new { status = "DROP" });
                    }

                    await subscription.DispatchAsync(context.RequestServices, @event, context.RequestAborted);
                    return Results.Json(new { status = "SUCCESS" });
                })
                .WithTopic(new TopicOptions
                {
                    PubsubName = Components.PubSub,
                    Name = subscription.Topic,
                    DeadLetterTopic = subscription.DeadLetterTopic,
                })
                .ExcludeFromDescription();
        }

        return endpoints;
    }
}
