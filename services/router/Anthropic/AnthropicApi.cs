using AiMesh.Router.Pipeline;

namespace AiMesh.Router.Anthropic;

/// <summary>The Anthropic-compatible tenant API: <c>POST /v1/messages</c> and <c>POST /v1/messages/count_tokens</c> (x-api-key or Bearer; anthropic-version accepted).</summary>
public static class AnthropicApi
{
    public static RouteGroupBuilder MapAnthropicApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/v1").WithTags("Anthropic");
        group.MapPost("/messages", (HttpContext context, ChatPipeline pipeline) => pipeline.HandleAsync(context, AnthropicDialect.Instance));
        group.MapPost("/messages/count_tokens", (HttpContext context, MessageTokenCounter counter) => counter.HandleAsync(context));
        return group;
    }
}
