using AiMesh.BuildingBlocks.Dapr;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using AiMesh.CostLedger.Ledger;
using AiMesh.CostLedger.Quota;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AiMesh.CostLedger;

public static class CostLedgerExtensions
{
    /// <summary>The ledger, budget alerts and quota rules. Hosts add the quota actor: Dapr or embedded.</summary>
    public static IHostApplicationBuilder AddCostLedger(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<QuotaOptions>().BindConfiguration(QuotaOptions.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<UsageLedger>();
        builder.Services.TryAddSingleton<BudgetAlertLog>();
        builder.Services.TryAddSingleton<CostLedgerService>();
        builder.Services.AddEventConsumer<UsageEvent, UsageLedger>(Topics.Usage, Topics.UsageDeadLetter);
        builder.Services.AddEventConsumer<BudgetAlert, BudgetAlertLog>(Topics.BudgetAlerts, Topics.BudgetAlertsDeadLetter);
        return builder;
    }

    /// <summary>Dapr mode: host the QuotaActor type.</summary>
    public static IHostApplicationBuilder AddQuotaActor(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddActors(options => options.Actors.RegisterActor<QuotaActor>(ActorTypes.Quota));
        return builder;
    }

    /// <summary>The service-invocation surface (Dapr mode). Every answer is 200 with a body: Dapr counts other statuses as failures.</summary>
    public static IEndpointRouteBuilder MapCostLedger(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup(string.Empty).ExcludeFromDescription();
        group.MapPost(ServiceRoutes.UsageQuery, (UsageQuery query, CostLedgerService ledger, CancellationToken cancellationToken) =>
            ledger.GetUsageAsync(query, cancellationToken));
        group.MapGet(ServiceRoutes.UsageRecord, async (string requestId, CostLedgerService ledger, CancellationToken cancellationToken) =>
            await ledger.GetRecordAsync(requestId, cancellationToken) is { } record ? Results.Ok(record) : Results.NoContent());
        group.MapGet(ServiceRoutes.BudgetAlerts, (string month, CostLedgerService ledger, CancellationToken cancellationToken) =>
            ledger.GetBudgetAlertsAsync(month, cancellationToken));
        return endpoints;
    }
}
