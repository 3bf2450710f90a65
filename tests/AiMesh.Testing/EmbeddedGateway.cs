using AiMesh.Embedded;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiMesh.Testing;

/// <summary>The embedded host started on 127.0.0.1:0 with settings given as command-line arguments, as a user would.</summary>
public sealed class EmbeddedGateway : IAsyncDisposable
{
    public const string MasterKey = "test-master-key-0123456789";

    private EmbeddedGateway(WebApplication app, string url, string databasePath)
    {
        App = app;
        BaseUrl = url;
        DatabasePath = databasePath;
    }

    public WebApplication App { get; }

    /// <summary>e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string BaseUrl { get; }

    public string DatabasePath { get; }

    public static string NewDatabasePath() => Path.Combine(Path.GetTempPath(), "aimesh-tests", $"{Guid.NewGuid():N}.db");

    /// <summary>Starts the gateway. <paramref name="settings"/> are configuration keys (e.g. OPENAI_BASE_URL).</summary>
    public static async Task<EmbeddedGateway> StartAsync(IDictionary<string, string?> settings, string? databasePath = null, ILoggerProvider? logs = null, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        databasePath ??= NewDatabasePath();
        var all = new Dictionary<string, string?>(settings)
        {
            ["urls"] = "http://127.0.0.1:0",
            ["AiMesh:Embedded:DatabasePath"] = databasePath,
        };
        all.TryAdd("AIMESH_MASTER_KEY", MasterKey);
        var args = all.Where(kv => kv.Value is not null).Select(kv => $"--{kv.Key}={kv.Value}").ToArray();
        var app = EmbeddedHost.Build(args, builder =>
        {
            builder.Logging.ClearProviders();
            if (logs is not null)
            {
                builder.Logging.AddProvider(logs);
            }

            configure?.Invoke(builder);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new EmbeddedGateway(app, address, databasePath);
    }

    public HttpClient CreateClient(string? key = MasterKey)
    {
        var client = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
