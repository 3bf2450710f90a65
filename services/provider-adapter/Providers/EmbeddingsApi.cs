using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>The embeddings route of the service-invocation surface (Dapr mode).</summary>
public static class EmbeddingsApi
{
    public static IEndpointRouteBuilder MapProviderAdapterEmbeddings(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost(ServiceRoutes.Embeddings, (ProviderEmbeddingsRequest request, ProviderAdapterService service, CancellationToken cancellationToken) =>
            service.EmbedAsync(request, cancellationToken)).ExcludeFromDescription();
        return endpoints;
    }
}
