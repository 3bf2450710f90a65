using AiMesh.Contracts;

namespace AiMesh.Router.Apis;

/// <summary>
/// Providers and deployments at runtime (under /admin, so master key only): list, add or replace,
/// enable, disable, delete — live within seconds, no restart. Keys given here are stored encrypted.
/// </summary>
public static class DeploymentsAdminApi
{
    public static RouteGroupBuilder MapDeploymentsAdminApi(this RouteGroupBuilder admin)
    {
        ArgumentNullException.ThrowIfNull(admin);
        admin.MapGet("/deployments", async (IDeploymentAdminClient catalog, CancellationToken cancellationToken) =>
            TypedResults.Ok(await catalog.ListAsync(cancellationToken)));
        admin.MapPut("/deployments/{deploymentId}", async (string deploymentId, DeploymentSpec spec, IDeploymentAdminClient catalog, CancellationToken cancellationToken) =>
            Answer(await catalog.PutAsync(deploymentId, spec, cancellationToken), deploymentId));
        admin.MapDelete("/deployments/{deploymentId}", async (string deploymentId, IDeploymentAdminClient catalog, CancellationToken cancellationToken) =>
            Answer(await catalog.DeleteAsync(deploymentId, cancellationToken), deploymentId));
        admin.MapPost("/deployments/{deploymentId}/enable", async (string deploymentId, IDeploymentAdminClient catalog, CancellationToken cancellationToken) =>
            Answer(await catalog.SetEnabledAsync(deploymentId, true, cancellationToken), deploymentId));
        admin.MapPost("/deployments/{deploymentId}/disable", async (string deploymentId, IDeploymentAdminClient catalog, CancellationToken cancellationToken) =>
            Answer(await catalog.SetEnabledAsync(deploymentId, false, cancellationToken), deploymentId));
        admin.MapPost("/provider-keys/reencrypt", async (IDeploymentAdminClient catalog, CancellationToken cancellationToken) =>
            Answer(await catalog.ReencryptAsync(cancellationToken), null));
        return admin;
    }

    private static IResult Answer(DeploymentAdminResult result, string? deploymentId) => result.Status switch
    {
        201 => TypedResults.Created($"/admin/deployments/{deploymentId}", result.Deployment),
        204 => TypedResults.NoContent(),
        200 when result.Deployment is not null => TypedResults.Ok(result.Deployment),
        200 => TypedResults.Ok(new { detail = result.Detail }),
        400 when result.Errors is not null => TypedResults.ValidationProblem(result.Errors),
        _ => TypedResults.Problem(result.Detail, statusCode: result.Status),
    };
}
