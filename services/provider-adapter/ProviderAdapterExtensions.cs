using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Images;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.ProviderAdapter.Resilience;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AiMesh.ProviderAdapter;

public static class ProviderAdapterExtensions
{
    public static IHostApplicationBuilder AddProviderAdapter(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<ProviderCatalogOptions>().BindConfiguration(ProviderCatalogOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<ProviderCatalogOptions>, EnvironmentDeployments>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProviderCatalogOptions>, ProviderCatalogValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ProviderCatalog>();
        services.TryAddSingleton<ManagedKeys>();
        services.TryAddSingleton<KeyEncryption>();
        services.TryAddSingleton<ManagedCatalog>();
        services.AddHostedService<ManagedCatalogRefresher>();
        services.TryAddSingleton<DeploymentRegistry>();
        services.TryAddSingleton<AdaptiveTimeouts>();
        services.TryAddSingleton<DeploymentOperations>();
        services.AddEventConsumer<DeploymentHealthSnapshot, AdaptiveTimeouts>(Topics.DeploymentHealth, Topics.DeploymentHealthDeadLetter);
        services.TryAddSingleton<ApiKeyProvider>();
        services.TryAddSingleton<ApiKeyRotation>();
        services.TryAddSingleton<ProviderWires>();
        services.AddOptions<ImageFetchOptions>().BindConfiguration(ImageFetchOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ImageFetchOptions>, ImageFetchOptionsValidator>());
        services.TryAddSingleton<ImageFetcher>();
        services.TryAddSingleton<ImageInliner>();
        services.TryAddSingleton<ProviderAdapterService>();

        // No standard resilience handler here: it would cut long generations; each deployment has its own pipeline.
        services.AddOptions<ResponseLimits>().BindConfiguration(ResponseLimits.Section)
            .Validate(limits => limits.Problem() is null, $"{ResponseLimits.Section}: MaxBodyBytes and MaxStreamLineBytes must be at least 65536.")
            .ValidateOnStart();
        services.AddHttpClient(ProviderAdapterService.HttpClientName, (sp, http) =>
            {
                http.Timeout = Timeout.InfiniteTimeSpan;
                // For answers the client buffers itself (the health probe's); the adapter passes the limit to LoadIntoBufferAsync.
                http.MaxResponseContentBufferSize = sp.GetRequiredService<IOptions<ResponseLimits>>().Value.MaxBodyBytes;
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                // One client serves every tenant: a cookie a provider sets must not ride on another tenant's
                // requests. A redirect is never followed: it would carry the prompt, and keys sent in headers
                // other than Authorization (Azure's api-key, Anthropic's x-api-key), to another address.
                UseCookies = false,
                AllowAutoRedirect = false,
                // An answer left unread (the caller hung up, the stream broke) closes its connection at once: no
                // draining the rest of a generation, which the provider would go on producing (and billing).
                MaxResponseDrainSize = 0,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                AutomaticDecompression = System.Net.DecompressionMethods.All,
                ConnectTimeout = TimeSpan.FromSeconds(10),
            })
            // The factory's own per-request logging scope and lines cost on every provider call and name
            // provider URLs; attempts and failures are logged by the adapter itself.
            .RemoveAllLoggers();
        services.AddHealthChecks().AddCheck<CatalogHealthCheck>("provider-catalog", tags: ["ready"]);
        return builder;
    }
}

/// <summary>Ready only with at least one enabled deployment: without one, no request can be served.</summary>
internal sealed class CatalogHealthCheck(ProviderCatalog catalog) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(catalog.Deployments.Any(d => d.Enabled)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("No provider deployment is configured (set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, AZURE_OPENAI_ENDPOINT, OLLAMA_HOST, or AiMesh:Deployments)."));
}
