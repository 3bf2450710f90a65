using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Resilience;

namespace AiMesh.ProviderAdapter;

/// <summary>The service-invocation surface (Dapr mode): one route per typed-client call.</summary>
public static class ProviderAdapterApi
{
    public static IEndpointRouteBuilder MapProviderAdapter(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup(string.Empty).ExcludeFromDescription();
        group.MapGet(ServiceRoutes.Deployments, (ProviderAdapterService service, CancellationToken cancellationToken) =>
            service.GetDeploymentsAsync(cancellationToken));
        group.MapPost(ServiceRoutes.Chat, (ProviderChatRequest request, ProviderAdapterService service, CancellationToken cancellationToken) =>
            service.ChatAsync(request, cancellationToken));
        group.MapPost(ServiceRoutes.ChatStream, StreamAsync);
        group.MapPost(DaprDeploymentOperationsClient.ProbeRoute, async (string deploymentId, DeploymentOperations operations, DeploymentRegistry registry, CancellationToken cancellationToken) =>
            registry.Find(deploymentId) is null ? Results.NotFound() : Results.Ok(await operations.ProbeAsync(deploymentId, cancellationToken)));
        group.MapPost(DaprDeploymentOperationsClient.ResetBreakerRoute, (string deploymentId, DeploymentOperations operations, CancellationToken cancellationToken) =>
            operations.ResetBreakerAsync(deploymentId, cancellationToken));
        // The catalog admin calls answer 200 with the outcome's own status inside (the router maps it).
        group.MapGet(DaprDeploymentAdminClient.ListRoute, (ManagedCatalog catalog, CancellationToken cancellationToken) => catalog.ListAsync(cancellationToken));
        group.MapPut(DaprDeploymentAdminClient.ItemRoute, (string deploymentId, DeploymentSpec spec, ManagedCatalog catalog, CancellationToken cancellationToken) =>
            catalog.PutAsync(deploymentId, spec, cancellationToken));
        group.MapDelete(DaprDeploymentAdminClient.ItemRoute, (string deploymentId, ManagedCatalog catalog, CancellationToken cancellationToken) =>
            catalog.DeleteAsync(deploymentId, cancellationToken));
        group.MapPost(DaprDeploymentAdminClient.EnabledRoute, (string deploymentId, bool enabled, ManagedCatalog catalog, CancellationToken cancellationToken) =>
            catalog.SetEnabledAsync(deploymentId, enabled, cancellationToken));
        group.MapPost(DaprDeploymentAdminClient.ReencryptRoute, (ManagedCatalog catalog, CancellationToken cancellationToken) => catalog.ReencryptAsync(cancellationToken));
        return endpoints;
    }

    // One JSON event per line, flushed as it comes, so the router sees each chunk at once.
    private static async Task StreamAsync(ProviderChatRequest request, ProviderAdapterService service, HttpContext context)
    {
        context.Response.ContentType = "application/x-ndjson";
        await foreach (var item in service.StreamChatAsync(request, context.RequestAborted))
        {
            await JsonSerializer.SerializeAsync(context.Response.Body, item, AiMeshJson.Options, context.RequestAborted);
            await context.Response.Body.WriteAsync("\n"u8.ToArray(), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }
    }
}
