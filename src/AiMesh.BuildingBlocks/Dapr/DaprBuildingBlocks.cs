using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.Secrets;
using AiMesh.BuildingBlocks.Services;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using Dapr.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AiMesh.BuildingBlocks.Dapr;

public static class DaprBuildingBlocks
{
    /// <summary>
    /// The ports over Dapr: state, pub/sub, secrets, the quota actor proxy and typed clients
    /// for every service (each an HttpClient that goes through the sidecar's invoke API).
    /// </summary>
    public static IServiceCollection AddDaprBuildingBlocks(this IServiceCollection services)
    {
        services.AddDaprClient(builder => builder.UseJsonSerializationOptions(new System.Text.Json.JsonSerializerOptions(AiMeshJson.Options)));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IStateStore, DaprStateStore>();
        services.TryAddSingleton<IEventPublisher, DaprEventPublisher>();
        services.TryAddSingleton<ISecretStore, DaprSecretStore>();
        services.TryAddSingleton<global::Dapr.Actors.Client.IActorProxyFactory>(sp =>
            new global::Dapr.Actors.Client.ActorProxyFactory(new global::Dapr.Actors.Client.ActorProxyOptions
            {
                HttpEndpoint = DaprEndpoint(sp.GetRequiredService<IConfiguration>()),
                DaprApiToken = sp.GetRequiredService<IConfiguration>()["DAPR_API_TOKEN"],
            }));
        services.TryAddSingleton<IQuotaClient, DaprQuotaClient>();

        AddInvokeClient<IValidationClient, DaprValidationClient>(services, AppIds.Validation);
        AddInvokeClient<IProviderAdapterClient, DaprProviderAdapterClient>(services, AppIds.ProviderAdapter);
        AddInvokeClient<ICostLedgerClient, DaprCostLedgerClient>(services, AppIds.CostLedger);
        AddInvokeClient<IHealthClient, DaprHealthClient>(services, AppIds.Health);
        AddInvokeClient<IDeploymentOperations, DaprDeploymentOperationsClient>(services, AppIds.ProviderAdapter);
        AddInvokeClient<IDeploymentAdminClient, DaprDeploymentAdminClient>(services, AppIds.ProviderAdapter);

        services.TryAddSingleton<IServiceStatusProbe, DaprServiceStatusProbe>();
        services.AddHttpClient(DaprServiceStatusProbe.ClientName)
            .AddHttpMessageHandler(sp => new InvocationHandler { DaprEndpoint = DaprEndpoint(sp.GetRequiredService<IConfiguration>()) })
            .AddHttpMessageHandler(sp => new DaprApiTokenHandler(sp.GetRequiredService<IConfiguration>()["DAPR_API_TOKEN"]));
        services.AddHealthChecks().AddCheck<DaprSidecarHealthCheck>("dapr-sidecar", tags: ["ready"]);
        return services;
    }

    /// <summary>The app side of Dapr: CloudEvents unwrapping and the subscription routes.</summary>
    public static WebApplication UseDaprBuildingBlocks(this WebApplication app)
    {
        app.UseCloudEvents();
        app.MapSubscribeHandler();
        app.MapEventSubscriptions();
        return app;
    }

    /// <summary>Same resolution as the Dapr SDK: DAPR_HTTP_ENDPOINT, then DAPR_HTTP_PORT on localhost, then 3500.</summary>
    public static string DaprEndpoint(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration["DAPR_HTTP_ENDPOINT"] is { Length: > 0 } endpoint
            ? endpoint
            : $"http://127.0.0.1:{configuration["DAPR_HTTP_PORT"] ?? "3500"}";
    }

    private static void AddInvokeClient<TPort, TClient>(IServiceCollection services, string appId)
        where TPort : class
        where TClient : class, TPort
    {
        // Generations are long and streams longer: the sidecar's resiliency policy owns the timeout.
        // One named client per port: two ports of one app under one name would stack their handlers.
        services.AddHttpClient<TPort, TClient>($"{appId}:{typeof(TPort).Name}", (sp, http) =>
            {
                http.BaseAddress = new Uri($"http://{appId}");
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddHttpMessageHandler(sp => new InvocationHandler
            {
                DaprEndpoint = DaprEndpoint(sp.GetRequiredService<IConfiguration>()),
            })
            .AddHttpMessageHandler(sp => new DaprApiTokenHandler(sp.GetRequiredService<IConfiguration>()["DAPR_API_TOKEN"]));
    }
}

internal sealed class DaprSidecarHealthCheck(DaprClient dapr) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await dapr.CheckHealthAsync(cancellationToken).ConfigureAwait(false)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("The Dapr sidecar does not answer.");
}

/// <summary>Adds the sidecar's API token (DAPR_API_TOKEN) to invoke calls when one is configured.</summary>
internal sealed class DaprApiTokenHandler(string? token) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(token))
        {
            request.Headers.TryAddWithoutValidation("dapr-api-token", token);
        }

        return base.SendAsync(request, cancellationToken);
    }
}
