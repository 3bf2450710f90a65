using AiMesh.BuildingBlocks.Dapr;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AiMesh.Health;

public static class HealthExtensions
{
    public static IHostApplicationBuilder AddHealthService(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<HealthThresholds>().BindConfiguration(HealthThresholds.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<DeploymentStats>();
        builder.Services.TryAddSingleton<HealthService>();
        builder.Services.AddEventConsumer<UsageEvent, DeploymentStats>(Topics.Usage, Topics.UsageDeadLetter);
        return builder;
    }

    /// <summary>The service-invocation surface (Dapr mode).</summary>
    public static IEndpointRouteBuilder MapHealthService(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(ServiceRoutes.HealthReport, (HealthService health, CancellationToken cancellationToken) => health.GetReportAsync(cancellationToken))
            .ExcludeFromDescription();
        return endpoints;
    }
}
