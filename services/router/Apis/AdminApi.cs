using System.Globalization;
using AiMesh.Contracts;
using AiMesh.Router.Auth;
using AiMesh.Router.Caching;
using AiMesh.Router.Tenancy;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiMesh.Router.Apis;

/// <summary>The admin API: master key only, errors as ProblemDetails.</summary>
public static class AdminApi
{
    private static readonly string[] UsageGrouping = [UsageDimensions.Tenant, UsageDimensions.Model, UsageDimensions.Day];
    private static readonly string[] CostGrouping = [UsageDimensions.Provider, UsageDimensions.Tenant];

    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/admin").WithTags("Admin").AddEndpointFilter(RequireMasterKeyAsync);
        group.MapGet("/usage", (HttpRequest request, ICostLedgerClient ledger, TimeProvider time, CancellationToken cancellationToken) =>
            QueryAsync(request, UsageGrouping, ledger, time, cancellationToken));
        group.MapGet("/costs", (HttpRequest request, ICostLedgerClient ledger, TimeProvider time, CancellationToken cancellationToken) =>
            QueryAsync(request, CostGrouping, ledger, time, cancellationToken));
        group.MapGet("/usage/requests/{requestId}", GetRecordAsync);
        group.MapGet("/budget-alerts", GetBudgetAlertsAsync);
        // A subject that does not exist is 404, not a quota of zeros: an admin's typo must not look like an idle tenant.
        group.MapGet("/tenants/{tenantId}/quota", async (string tenantId, TenantDirectory tenants, IQuotaClient quota, CancellationToken cancellationToken) =>
            tenantId == TenantAuthenticator.MasterTenant || await tenants.GetTenantAsync(tenantId, cancellationToken) is not null
                ? await GetQuotaAsync(QuotaSubjects.Tenant(tenantId), quota, cancellationToken)
                : Missing("Tenant", tenantId));
        group.MapGet("/deployments/{deploymentId}/quota", async (string deploymentId, IProviderAdapterClient providers, IQuotaClient quota, CancellationToken cancellationToken) =>
            (await providers.GetDeploymentsAsync(cancellationToken)).Any(d => d.Id == deploymentId)
                ? await GetQuotaAsync(QuotaSubjects.Deployment(deploymentId), quota, cancellationToken)
                : Missing("Deployment", deploymentId));
        group.MapDelete("/cache", ClearCacheAsync);
        group.MapGet("/keys/{keyId}/quota", async (string keyId, TenantDirectory tenants, IQuotaClient quota, CancellationToken cancellationToken) =>
            await tenants.KeyExistsAsync(keyId, cancellationToken)
                ? await GetQuotaAsync(QuotaSubjects.Key(keyId), quota, cancellationToken)
                : Missing("Key", keyId));
        group.MapGet("/health-alerts", GetHealthAlertsAsync);
        group.MapGet("/circuit-breakers", async (IProviderAdapterClient providers, CancellationToken cancellationToken) =>
            TypedResults.Ok((await providers.GetDeploymentsAsync(cancellationToken)).Select(d => new BreakerView(d.Id, d.Provider, d.BreakerState)).ToList()));
        group.MapPost("/circuit-breakers/{deploymentId}/reset", async Task<Results<NoContent, ProblemHttpResult>> (string deploymentId, IDeploymentOperations operations, CancellationToken cancellationToken) =>
            await operations.ResetBreakerAsync(deploymentId, cancellationToken)
                ? TypedResults.NoContent()
                : TypedResults.Problem($"Deployment '{deploymentId}' does not exist.", statusCode: 404));
        group.MapTenantsAdminApi();
        group.MapDeploymentsAdminApi();
        return group;
    }

    /// <summary>
    /// Usage or cost: <c>from</c>/<c>to</c> (UTC days, default today, at most 366 days),
    /// filters <c>tenant</c>, <c>provider</c>, <c>deployment</c>, <c>model</c>, and
    /// <c>groupBy</c>: a comma list of tenant, key, provider, deployment, model, day, month.
    /// </summary>
    private static async Task<Results<Ok<UsageReport>, ProblemHttpResult>> QueryAsync(
        HttpRequest request, string[] defaultGrouping, ICostLedgerClient ledger, TimeProvider time, CancellationToken cancellationToken)
    {
        var q = request.Query;
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        if (!TryDay(q["from"], today, out var from) || !TryDay(q["to"], today, out var to))
        {
            return TypedResults.Problem("'from' and 'to' must be dates in the form yyyy-MM-dd.", statusCode: 400);
        }

        if (to < from || to.DayNumber - from.DayNumber > 366)
        {
            return TypedResults.Problem("'to' must not be before 'from', and the range must be at most 366 days.", statusCode: 400);
        }

        var groupBy = string.IsNullOrWhiteSpace(q["groupBy"])
            ? defaultGrouping
            : q["groupBy"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = groupBy.Where(g => !UsageDimensions.All.Contains(g)).ToList();
        if (unknown.Count > 0)
        {
            return TypedResults.Problem($"Unknown groupBy dimension(s): {string.Join(", ", unknown)}; use any of: {string.Join(", ", UsageDimensions.All)}.", statusCode: 400);
        }

        var query = new UsageQuery(from, to, groupBy)
        {
            Tenant = Blank(q["tenant"]),
            Provider = Blank(q["provider"]),
            Deployment = Blank(q["deployment"]),
            Model = Blank(q["model"]),
        };
        var rows = await ledger.GetUsageAsync(query, cancellationToken);
        return TypedResults.Ok(new UsageReport(from, to, groupBy, rows, new UsageTotal(
            rows.Sum(r => r.Requests), rows.Sum(r => r.CacheHits), rows.Sum(r => r.PromptTokens), rows.Sum(r => r.CompletionTokens), rows.Sum(r => r.CostUsd))));
    }

    private static async Task<Results<Ok<UsageEvent>, ProblemHttpResult>> GetRecordAsync(string requestId, ICostLedgerClient ledger, CancellationToken cancellationToken) =>
        await ledger.GetRecordAsync(requestId, cancellationToken) is { } record
            ? TypedResults.Ok(record)
            : TypedResults.Problem($"No usage is recorded for request '{requestId}'.", statusCode: 404);

    /// <summary>Budget alerts of a month (<c>month=yyyy-MM</c>, default this month).</summary>
    private static async Task<Results<Ok<IReadOnlyList<BudgetAlert>>, ProblemHttpResult>> GetBudgetAlertsAsync(string? month, ICostLedgerClient ledger, TimeProvider time, CancellationToken cancellationToken)
    {
        month ??= time.GetUtcNow().UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        if (!DateOnly.TryParseExact(month + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            return TypedResults.Problem("'month' must be in the form yyyy-MM.", statusCode: 400);
        }

        return TypedResults.Ok(await ledger.GetBudgetAlertsAsync(month, cancellationToken));
    }

    /// <summary>Deployments turning degraded or unhealthy and back, in a month (<c>month=yyyy-MM</c>, default this month).</summary>
    private static async Task<Results<Ok<IReadOnlyList<HealthAlert>>, ProblemHttpResult>> GetHealthAlertsAsync(string? month, IHealthClient health, TimeProvider time, CancellationToken cancellationToken)
    {
        month ??= time.GetUtcNow().UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        if (!DateOnly.TryParseExact(month + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            return TypedResults.Problem("'month' must be in the form yyyy-MM.", statusCode: 400);
        }

        return TypedResults.Ok(await health.GetAlertsAsync(month, cancellationToken));
    }

    public sealed record BreakerView(string DeploymentId, string Provider, string State);

    private static async Task<Results<Ok<QuotaStatus>, ProblemHttpResult>> GetQuotaAsync(string subject, IQuotaClient quota, CancellationToken cancellationToken) =>
        TypedResults.Ok(await quota.GetStatusAsync(subject, cancellationToken));

    private static Results<Ok<QuotaStatus>, ProblemHttpResult> Missing(string what, string id) =>
        TypedResults.Problem($"{what} '{id}' does not exist.", statusCode: 404);

    /// <summary>Clears the response cache: all of it, or <c>?tenant=</c>, or <c>?alias=</c> (a model name or alias).</summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> ClearCacheAsync(string? tenant, string? alias, ResponseCache cache, CancellationToken cancellationToken)
    {
        if (tenant is not null && alias is not null)
        {
            return TypedResults.Problem("Give 'tenant' or 'alias', not both.", statusCode: 400);
        }

        await cache.ClearAsync(Blank(tenant), Blank(alias), cancellationToken);
        return TypedResults.NoContent();
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static bool TryDay(string? value, DateOnly fallback, out DateOnly day)
    {
        if (string.IsNullOrEmpty(value))
        {
            day = fallback;
            return true;
        }

        return DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
    }

    private static async ValueTask<object?> RequireMasterKeyAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var caller = await http.RequestServices.GetRequiredService<TenantAuthenticator>().AuthenticateAsync(http.Request, http.RequestAborted);
        if (caller is null)
        {
            return TypedResults.Problem("The admin API needs the master key: 'Authorization: Bearer <AIMESH_MASTER_KEY>'.", statusCode: 401);
        }

        return caller.IsAdmin
            ? await next(context)
            : TypedResults.Problem("The admin API is for the master key only.", statusCode: 403);
    }

    public sealed record UsageReport(DateOnly From, DateOnly To, IReadOnlyList<string> GroupBy, IReadOnlyList<UsageGroupRow> Rows, UsageTotal Total);

    public sealed record UsageTotal(long Requests, long CacheHits, long PromptTokens, long CompletionTokens, decimal CostUsd);
}
