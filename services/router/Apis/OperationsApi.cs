using AiMesh.BuildingBlocks.Services;
using AiMesh.Contracts;

namespace AiMesh.Router.Apis;

/// <summary><c>GET /health</c>: every service and every deployment, with status, latency and breaker state.</summary>
public static class OperationsApi
{
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/health", GetHealthAsync).WithTags("Operations");
        return endpoints;
    }

    private static async Task<IResult> GetHealthAsync(IServiceStatusProbe services, IHealthClient health, CancellationToken cancellationToken)
    {
        var statuses = await services.ProbeAsync(cancellationToken);
        HealthReport? report = null;
        try
        {
            report = await health.GetReportAsync(cancellationToken);
        }
        catch (HttpRequestException)
        {
            // The health service is down: its row says so below.
        }

        var servicesUp = statuses.Values.All(s => s == "healthy");
        var status = !servicesUp || report is null ? "unhealthy" : report.Status;
        return TypedResults.Json(
            new { status, services = statuses, deployments = report?.Deployments ?? [] },
            statusCode: status == "unhealthy" ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK);
    }
}
