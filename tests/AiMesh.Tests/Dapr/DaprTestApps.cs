using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Testing.Dapr;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiMesh.Tests.Dapr;

/// <summary>
/// One AiMesh service in Dapr mode (its real Program), its Dapr settings pointed at a fake sidecar.
/// A fresh instance per test; <see cref="WebApplicationFactory{TEntryPoint}.CreateClient()"/> is what
/// the sidecar forwards invocations and actor calls to.
/// </summary>
public sealed class DaprServiceFactory<TEntryPoint>(
    FakeDaprSidecar sidecar,
    IReadOnlyDictionary<string, string>? settings = null,
    Action<IServiceCollection>? services = null) : WebApplicationFactory<TEntryPoint>
    where TEntryPoint : class
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in sidecar.Settings.Concat(settings ?? new Dictionary<string, string>()))
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureLogging(logging => logging.ClearProviders());
        if (services is not null)
        {
            builder.ConfigureTestServices(services);
        }
    }
}

/// <summary>The caller's side (e.g. the router): the real AddDaprBuildingBlocks DI, pointed at a fake sidecar.</summary>
public static class DaprCallerSide
{
    public static ServiceProvider Services(FakeDaprSidecar sidecar)
    {
        ArgumentNullException.ThrowIfNull(sidecar);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(sidecar.Settings.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)))
            .Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddDaprBuildingBlocks();
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });
    }
}
