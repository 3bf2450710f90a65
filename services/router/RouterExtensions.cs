using AiMesh.Router.Anthropic;
using AiMesh.Router.Apis;
using AiMesh.Router.Auth;
using AiMesh.Router.Caching;
using AiMesh.Router.Pipeline;
using AiMesh.Router.Routing;
using AiMesh.Router.Tenancy;
using AiMesh.Router.Telemetry;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

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
            .Validate(o => o.RequestTimeout > TimeSpan.Zero, $"{RouterOptions.Section}:RequestTimeout must be positive.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MasterKey>();
        services.AddHostedService<MasterKeyStartupCheck>();
        services.TryAddSingleton<TenantDirectory>();
        services.TryAddSingleton<TenantAuthenticator>();
        services.TryAddSingleton<DeploymentDirectory>();
        services.AddOptions<RoutingOptions>().BindConfiguration(RoutingOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRoutingStrategy, PriorityStrategy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRoutingStrategy, WeightedStrategy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRoutingStrategy, LeastLoadedStrategy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRoutingStrategy, FastestStrategy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRoutingStrategy, CostStrategy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRoutingStrategy, AdaptiveStrategy>());
        services.TryAddSingleton<HealthSnapshot>();
        services.TryAddSingleton<InFlightTracker>();
        services.TryAddSingleton<RoutePlanner>();
        services.AddEventConsumer<DeploymentHealthSnapshot, HealthSnapshot>(Topics.DeploymentHealth, Topics.DeploymentHealthDeadLetter);
        services.TryAddSingleton<GatewayMetrics>();
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.Section);
        services.AddOptions<DeploymentBudgets>().BindConfiguration(DeploymentBudgets.Section);
        services.TryAddSingleton<ResponseCache>();
        services.AddOptions<ContentPolicy>().BindConfiguration(ContentPolicies.Section)
            .Validate(p => p.Problem() is null, $"{ContentPolicies.Section}: Screening must be off, flag or block, and Pii off, redact or block.")
            .ValidateOnStart();
        services.TryAddSingleton<ContentPolicies>();
        services.TryAddSingleton<ChatPipeline>();
        services.TryAddSingleton<EmbeddingsPipeline>();
        services.TryAddSingleton<MessageTokenCounter>();
        services.AddApiStatusPages();
        return builder;
    }

    public static IEndpointRouteBuilder MapRouter(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOpenAiApi();
        endpoints.MapAnthropicApi();
        endpoints.MapAdminApi();
        endpoints.MapOperationsApi();
        return endpoints;
    }
}
