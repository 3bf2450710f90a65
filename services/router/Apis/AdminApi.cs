using AiMesh.Contracts;
using AiMesh.Router.Auth;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiMesh.Router.Apis;

/// <summary>The admin API: master key only, errors as ProblemDetails.</summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/admin").WithTags("Admin").AddEndpointFilter(RequireMasterKeyAsync);
        group.MapGet("/usage", GetUsageAsync);
        return group;
    }

    /// <summary>Usage and cost per tenant, model and day. <c>from</c>/<c>to</c> are UTC days (default: today).</summary>
    private static async Task<Results<Ok<UsageReport>, ProblemHttpResult>> GetUsageAsync(
        string? from, string? to, string? tenant, ICostLedgerClient ledger, TimeProvider time, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        if (!TryDay(from, today, out var fromDay) || !TryDay(to, today, out var toDay))
        {
            return TypedResults.Problem("'from' and 'to' must be dates in the form yyyy-MM-dd.", statusCode: 400);
        }

        if (toDay < fromDay || toDay.DayNumber - fromDay.DayNumber > 366)
        {
            return TypedResults.Problem("'to' must not be before 'from', and the range must be at most 366 days.", statusCode: 400);
        }

        var rows = await ledger.GetUsageAsync(new UsageQuery(string.IsNullOrEmpty(tenant) ? null : tenant, fromDay, toDay), cancellationToken);
        return TypedResults.Ok(new UsageReport(
            fromDay, toDay, rows,
            new UsageTotal(rows.Sum(r => r.Requests), rows.Sum(r => r.PromptTokens), rows.Sum(r => r.CompletionTokens), rows.Sum(r => r.CostUsd))));
    }

    private static bool TryDay(string? value, DateOnly fallback, out DateOnly day)
    {
        if (string.IsNullOrEmpty(value))
        {
            day = fallback;
            return true;
        }

        return DateOnly.TryParseExact(value, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out day);
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

    public sealed record UsageReport(DateOnly From, DateOnly To, IReadOnlyList<UsageSummaryRow> Rows, UsageTotal Total);

    public sealed record UsageTotal(long Requests, long PromptTokens, long CompletionTokens, decimal CostUsd);
}
