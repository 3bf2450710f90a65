using AiMesh.BuildingBlocks.Embedded;
using AiMesh.Contracts;
using AiMesh.CostLedger;
using AiMesh.CostLedger.Ledger;
using AiMesh.CostLedger.Quota;
using AiMesh.Health;
using AiMesh.ProviderAdapter;
using AiMesh.Router;
using AiMesh.Router.Security;
using AiMesh.ServiceDefaults;
using AiMesh.Validation;

namespace AiMesh.Embedded;

/// <summary>
/// All five services in one process. The ports are in-process: typed clients are the services
/// themselves, pub/sub is the SQLite outbox bus, state and actor state live in the SQLite file,
/// the quota actor is a per-tenant serialised object, secrets come from the environment or a file.
/// </summary>
public static class EmbeddedHost
{
    /// <summary>Where the embedded host listens when neither --urls nor ASPNETCORE_URLS says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.AddAiMeshDefaults("aimesh");
        builder.Services.AddEmbeddedBuildingBlocks();
        builder.AddValidation().AddProviderAdapter().AddCostLedger().AddHealthService().AddRouter().AddRouterProtection();

        builder.Services.AddSingleton<IValidationClient>(sp => sp.GetRequiredService<ValidationService>());
        builder.Services.AddSingleton<IProviderAdapterClient>(sp => sp.GetRequiredService<ProviderAdapterService>());
        builder.Services.AddSingleton<IDeploymentOperations>(sp => sp.GetRequiredService<AiMesh.ProviderAdapter.Resilience.DeploymentOperations>());
        builder.Services.AddSingleton<IDeploymentAdminClient>(sp => sp.GetRequiredService<AiMesh.ProviderAdapter.Catalog.ManagedCatalog>());
        builder.Services.AddSingleton<ICostLedgerClient>(sp => sp.GetRequiredService<CostLedgerService>());
        builder.Services.AddSingleton<IHealthClient>(sp => sp.GetRequiredService<HealthService>());
        builder.Services.AddSingleton<IQuotaClient, EmbeddedQuotaActors>();

        configure?.Invoke(builder);
        var app = builder.Build();
        app.UseRouterProtection();
        app.MapAiMeshDefaults();
        app.MapRouter();
        return app;
    }
}
