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
        builder.Services.AddOptions<HealthOptions>().BindConfiguration(HealthOptions.Section)
            .Validate(o => o.PublishInterval > TimeSpan.Zero, $"{HealthOptions.Section}:PublishInterval must be positive.")
            .Validate(o => o.MinTimeout > TimeSpan.Zero && o.MaxTimeout >= o.MinTimeout, $"{HealthOptions.Section}:MinTimeout must be positive and at most MaxTimeout.")
            .Validate(o => o.DegradedErrorRate <= o.UnhealthyErrorRate && o.DegradedP95Ms <= o.UnhealthyP95Ms, $"{HealthOptions.Section}: degraded thresholds must not exceed unhealthy ones.")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<DeploymentStats>();
        builder.Services.TryAddSingleton<HealthAlertLog>();
        builder.Services.TryAddSingleton<HealthService>();
        builder.Services.TryAddSingleton<HealthMonitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HealthMonitor>());
        builder.Services.AddEventConsumer<UsageEvent, DeploymentStats>(Topics.Usage, Topics.UsageDeadLetter);
        return builder;
    }

    /// <summary>The service-invocation surface (Dapr mode).</summary>
    public static IEndpointRouteBuilder MapHealthService(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup(string.Empty).ExcludeFromDescription();
        group.MapGet(ServiceRoutes.HealthReport, (HealthService health, CancellationToken cancellationToken) => health.GetReportAsync(cancellationToken));
        group.MapGet(ServiceRoutes.HealthAlerts, (string month, HealthService health, CancellationToken cancellationToken) => health.GetAlertsAsync(month, cancellationToken));
        return endpoints;
    }
}
