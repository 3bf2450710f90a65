using AiMesh.BuildingBlocks.Dapr;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using AiMesh.CostLedger.Ledger;
using AiMesh.CostLedger.Quota;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AiMesh.CostLedger;

public static class CostLedgerExtensions
{
    /// <summary>The ledger (consumer of usage events) and the quota rules. Hosts add the quota actor: Dapr or embedded.</summary>
    public static IHostApplicationBuilder AddCostLedger(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<QuotaOptions>().BindConfiguration(QuotaOptions.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<UsageLedger>();
        builder.Services.AddEventConsumer<UsageEvent, UsageLedger>(Topics.Usage, Topics.UsageDeadLetter);
        return builder;
    }

    /// <summary>Dapr mode: host the QuotaActor type.</summary>
    public static IHostApplicationBuilder AddQuotaActor(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddActors(options => options.Actors.RegisterActor<QuotaActor>(ActorTypes.Quota));
        return builder;
    }

    /// <summary>The service-invocation surface (Dapr mode).</summary>
    public static IEndpointRouteBuilder MapCostLedger(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(ServiceRoutes.Usage, GetUsageAsync).ExcludeFromDescription();
        return endpoints;
    }

    private static async Task<Results<Ok<IReadOnlyList<UsageSummaryRow>>, BadRequest<string>>> GetUsageAsync(
        DateOnly from, DateOnly to, string? tenant, UsageLedger ledger, CancellationToken cancellationToken)
    {
        if (to < from || to.DayNumber - from.DayNumber > 366)
        {
            return TypedResults.BadRequest("'to' must not be before 'from', and the range must be at most 366 days.");
        }

        return TypedResults.Ok(await ledger.GetUsageAsync(new UsageQuery(tenant, from, to), cancellationToken));
    }
}
