using AiMesh.Router.Auth;
using AiMesh.Router.OpenAi;
using AiMesh.Router.Pipeline;
using AiMesh.Router.Routing;

namespace AiMesh.Router.Apis;

/// <summary>The OpenAI-compatible tenant API.</summary>
public static class OpenAiApi
{
    public static RouteGroupBuilder MapOpenAiApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/v1").WithTags("OpenAI");
        group.MapPost("/chat/completions", (HttpContext context, ChatPipeline pipeline) => pipeline.HandleAsync(context));
        group.MapPost("/embeddings", (HttpContext context, EmbeddingsPipeline pipeline) => pipeline.HandleAsync(context));
        group.MapGet("/models", ListModelsAsync);
        return group;
    }

    /// <summary>The model names and aliases the caller may use (pass-through deployments accept any name and are not listed).</summary>
    private static async Task<IResult> ListModelsAsync(HttpContext context, TenantAuthenticator authenticator, DeploymentDirectory directory, TimeProvider time)
    {
        RequestIds.Resolve(context, time);
        if (await authenticator.AuthenticateAsync(context.Request, context.RequestAborted) is not { } caller)
        {
            return GatewayError.Unauthorized().ToResult(context);
        }

        var deployments = await directory.GetAsync(context.RequestAborted);
        var models = deployments.Where(d => d.Enabled)
            .SelectMany(d => d.Aliases.Append(d.Model).Select(name => (Name: name, d.Provider)))
            .Where(m => m.Name != "*" && caller.MayUse(m.Name))
            .DistinctBy(m => m.Name)
            .OrderBy(m => m.Name, StringComparer.Ordinal)
            .Select(m => new ModelEntry(m.Name, "model", 0, m.Provider))
            .ToList();
        return TypedResults.Json(new ModelList("list", models));
    }

    private sealed record ModelList(
        [property: System.Text.Json.Serialization.JsonPropertyName("object")] string Object,
        [property: System.Text.Json.Serialization.JsonPropertyName("data")] IReadOnlyList<ModelEntry> Data);

    private sealed record ModelEntry(
        [property: System.Text.Json.Serialization.JsonPropertyName("id")] string Id,
        [property: System.Text.Json.Serialization.JsonPropertyName("object")] string Object,
        [property: System.Text.Json.Serialization.JsonPropertyName("created")] long Created,
        [property: System.Text.Json.Serialization.JsonPropertyName("owned_by")] string OwnedBy);
}
