using AiMesh.Router.Apis;
using AiMesh.Router.Auth;
using AiMesh.Router.Caching;
using AiMesh.Router.Pipeline;
using AiMesh.Router.Routing;
using AiMesh.Router.Tenancy;
using AiMesh.Router.Telemetry;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AiMesh.Router;

public static class RouterExtensions
{
    /// <summary>The public API and its request pipeline. The host provides the ports (Dapr or embedded).</summary>
    public static IHostApplicationBuilder AddRouter(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<RouterOptions>().BindConfiguration(RouterOptions.Section)
            .Validate(o => o.MaxAttempts is >= 1 and <= 10, $"{RouterOptions.Section}:MaxAttempts must be between 1 and 10.")
            .Validate(o => o.MaxRequestBodyBytes >= 1024, $"{RouterOptions.Section}:MaxRequestBodyBytes must be at least 1024.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MasterKey>();
        services.AddHostedService<MasterKeyStartupCheck>();
        services.TryAddSingleton<TenantDirectory>();
        services.TryAddSingleton<TenantAuthenticator>();
        services.TryAddSingleton<DeploymentDirectory>();
        services.TryAddSingleton<GatewayMetrics>();
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.Section);
        services.AddOptions<DeploymentBudgets>().BindConfiguration(DeploymentBudgets.Section);
        services.TryAddSingleton<ResponseCache>();
        services.TryAddSingleton<ChatPipeline>();
        return builder;
    }

    public static IEndpointRouteBuilder MapRouter(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOpenAiApi();
        endpoints.MapAdminApi();
        endpoints.MapOperationsApi();
        return endpoints;
    }
}
