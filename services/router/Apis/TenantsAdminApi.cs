using System.Text.RegularExpressions;
using AiMesh.Contracts;
using AiMesh.Router.Auth;
using AiMesh.Router.Tenancy;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiMesh.Router.Apis;

/// <summary>Tenants and their virtual keys (under /admin, so master key only).</summary>
public static partial class TenantsAdminApi
{
    public static RouteGroupBuilder MapTenantsAdminApi(this RouteGroupBuilder admin)
    {
        ArgumentNullException.ThrowIfNull(admin);
        admin.MapGet("/tenants", async (TenantDirectory tenants, CancellationToken cancellationToken) => TypedResults.Ok(await tenants.ListTenantsAsync(cancellationToken)));
        admin.MapPost("/tenants", CreateTenantAsync);
        admin.MapGet("/tenants/{tenantId}", GetTenantAsync);
        admin.MapPut("/tenants/{tenantId}", UpdateTenantAsync);
        admin.MapDelete("/tenants/{tenantId}", DeleteTenantAsync);
        admin.MapPost("/tenants/{tenantId}/keys", CreateKeyAsync);
        admin.MapGet("/tenants/{tenantId}/keys", ListKeysAsync);
        admin.MapDelete("/keys/{keyId}", RevokeKeyAsync);
        return admin;
    }

    // Unknown fields are refused: an admin's typo must not silently change nothing.
    [System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
    public sealed record TenantRequest(string? Id, string? Name, List<string>? AllowedModels, SubjectLimits? Limits, ContentPolicy? ContentPolicy = null);

    [System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
    public sealed record KeyRequest(string? Name, List<string>? AllowedModels, SubjectLimits? Limits, DateTimeOffset? ExpiresAt);

    private static async Task<Results<Created<Tenant>, ValidationProblem, ProblemHttpResult>> CreateTenantAsync(
        TenantRequest request, TenantDirectory tenants, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = Validate(request.Id, request.AllowedModels, request.Limits);
        ValidatePolicy(request.ContentPolicy, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (request.Id == TenantAuthenticator.MasterTenant)
        {
            return TypedResults.Problem($"'{TenantAuthenticator.MasterTenant}' is reserved for the master key.", statusCode: 409);
        }

        var tenant = new Tenant(request.Id!, request.Name, request.AllowedModels ?? [], request.Limits, time.GetUtcNow(), request.ContentPolicy);
        return await tenants.CreateTenantAsync(tenant, cancellationToken)
            ? TypedResults.Created($"/admin/tenants/{tenant.Id}", tenant)
            : TypedResults.Problem($"Tenant '{tenant.Id}' already exists.", statusCode: 409);
    }

    private static async Task<Results<Ok<Tenant>, ProblemHttpResult>> GetTenantAsync(string tenantId, TenantDirectory tenants, CancellationToken cancellationToken) =>
        await tenants.GetTenantAsync(tenantId, cancellationToken) is { } tenant ? TypedResults.Ok(tenant) : NotFound(tenantId);

    private static async Task<Results<Ok<Tenant>, ValidationProblem, ProblemHttpResult>> UpdateTenantAsync(
        string tenantId, TenantRequest request, TenantDirectory tenants, CancellationToken cancellationToken)
    {
        var errors = Validate(tenantId, request.AllowedModels, request.Limits);
        ValidatePolicy(request.ContentPolicy, errors);
        if (request.Id is not null && request.Id != tenantId)
        {
            errors["id"] = ["A tenant's id cannot change: 'id' in the body must be absent or equal the id in the path."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (await tenants.GetTenantAsync(tenantId, cancellationToken) is not { } current)
        {
            return NotFound(tenantId);
        }

        var updated = current with { Name = request.Name ?? current.Name, AllowedModels = request.AllowedModels ?? current.AllowedModels, Limits = request.Limits ?? current.Limits, ContentPolicy = request.ContentPolicy ?? current.ContentPolicy };
        return await tenants.UpdateTenantAsync(updated, cancellationToken)
            ? TypedResults.Ok(updated)
            : TypedResults.Problem("The tenant changed meanwhile; read it again and retry.", statusCode: 409);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteTenantAsync(string tenantId, TenantDirectory tenants, CancellationToken cancellationToken) =>
        await tenants.DeleteTenantAsync(tenantId, cancellationToken) ? TypedResults.NoContent() : NotFound(tenantId);

    private static async Task<Results<Created<CreatedKey>, ValidationProblem, ProblemHttpResult>> CreateKeyAsync(
        string tenantId, KeyRequest request, TenantDirectory tenants, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = Validate(tenantId, request.AllowedModels, request.Limits);
        if (request.ExpiresAt is { } expires && expires <= time.GetUtcNow())
        {
            errors["expiresAt"] = ["'expiresAt' must be in the future."];
        }

        if (request.Name?.Length > 200)
        {
            errors["name"] = ["'name' must be at most 200 characters."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (await tenants.GetTenantAsync(tenantId, cancellationToken) is null)
        {
            return NotFound(tenantId);
        }

        var created = await tenants.CreateKeyAsync(tenantId, request.Name, request.AllowedModels ?? [], request.Limits, request.ExpiresAt, cancellationToken);
        return TypedResults.Created($"/admin/tenants/{tenantId}/keys", created);
    }

    private static async Task<Results<Ok<List<KeyView>>, ProblemHttpResult>> ListKeysAsync(string tenantId, TenantDirectory tenants, CancellationToken cancellationToken)
    {
        if (await tenants.GetTenantAsync(tenantId, cancellationToken) is null)
        {
            return NotFound(tenantId);
        }

        return TypedResults.Ok((await tenants.ListKeysAsync(tenantId, cancellationToken)).Select(KeyView.Of).ToList());
    }

    private static async Task<Results<Ok<KeyView>, ProblemHttpResult>> RevokeKeyAsync(string keyId, TenantDirectory tenants, CancellationToken cancellationToken) =>
        await tenants.RevokeKeyAsync(keyId, cancellationToken) is { } revoked
            ? TypedResults.Ok(KeyView.Of(revoked))
            : TypedResults.Problem($"Key '{keyId}' does not exist.", statusCode: 404);

    private static ProblemHttpResult NotFound(string tenantId) => TypedResults.Problem($"Tenant '{tenantId}' does not exist.", statusCode: 404);

    private static Dictionary<string, string[]> Validate(string? id, List<string>? models, SubjectLimits? limits)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (id is null || !TenantId().IsMatch(id))
        {
            errors["id"] = ["A tenant id is 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit."];
        }

        if (models?.Any(m => string.IsNullOrWhiteSpace(m) || m.Length > 256) == true || models?.Count > 1000)
        {
            errors["allowedModels"] = ["'allowedModels' holds at most 1000 non-empty model names of at most 256 characters."];
        }

        if (limits is not null && (limits.RequestsPerMinute <= 0 || limits.BurstRequests <= 0 || limits.RequestsPerHour <= 0 || limits.TokensPerMinute <= 0
            || limits.DailyBudgetUsd < 0 || limits.MonthlyBudgetUsd < 0))
        {
            errors["limits"] = ["Rate limits must be positive and budgets must not be negative."];
        }

        return errors;
    }

    private static void ValidatePolicy(ContentPolicy? policy, Dictionary<string, string[]> errors)
    {
        if (policy?.Problem() is { } problem)
        {
            errors["contentPolicy"] = [problem];
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex TenantId();
}
