using AiMesh.BuildingBlocks.PubSub;
using AiMesh.BuildingBlocks.Secrets;
using AiMesh.BuildingBlocks.Services;
using AiMesh.BuildingBlocks.State;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AiMesh.BuildingBlocks.Embedded;

public static class EmbeddedBuildingBlocks
{
    /// <summary>
    /// The in-process building blocks: SQLite state (and actor state), the outbox event bus,
    /// secrets from the environment or a local file. Typed service clients are the services
    /// themselves, which the embedded host registers.
    /// </summary>
    public static IServiceCollection AddEmbeddedBuildingBlocks(this IServiceCollection services)
    {
        services.AddOptions<EmbeddedOptions>().BindConfiguration(EmbeddedOptions.Section);
        services.AddOptions<EventBusOptions>().BindConfiguration(EventBusOptions.Section);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<SqliteDatabase>();
        services.TryAddSingleton<IStateStore, SqliteStateStore>();
        services.TryAddSingleton<ISecretStore, FileAndEnvironmentSecretStore>();
        services.TryAddSingleton<OutboxEventBus>();
        services.TryAddSingleton<IEventPublisher>(sp => sp.GetRequiredService<OutboxEventBus>());
        services.AddHostedService(sp => sp.GetRequiredService<OutboxEventBus>());
        services.TryAddSingleton<IServiceStatusProbe, InProcessServiceStatusProbe>();
        services.AddHealthChecks().AddCheck<SqliteHealthCheck>("sqlite", tags: ["ready"]);
        return services;
    }
}

internal sealed class SqliteHealthCheck(SqliteDatabase database) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var connection = database.Open();
            SqliteDatabase.Execute(connection, "SELECT 1");
            return Task.FromResult(HealthCheckResult.Healthy());
        }
        catch (Exception exception) when (exception is Microsoft.Data.Sqlite.SqliteException or IOException)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The SQLite state file cannot be opened.", exception));
        }
    }
}
