using AiMesh.Router.Tenancy;

namespace AiMesh.Router.Auth;

/// <summary>Who is calling: the master key (admin, tenant <c>master</c>) or a tenant's virtual key.</summary>
public sealed record Caller(string TenantId, bool IsAdmin, string? KeyId = null, Tenant? Tenant = null, VirtualKey? Key = null)
{
    /// <summary>Whether both the tenant and the key allow this model (an empty list allows every model).</summary>
    public bool MayUse(string model) =>
        (Tenant is null || Tenant.AllowedModels.Count == 0 || Tenant.AllowedModels.Contains(model, StringComparer.Ordinal))
        && (Key is null || Key.AllowedModels.Count == 0 || Key.AllowedModels.Contains(model, StringComparer.Ordinal));
}

/// <summary>Maps the presented key (Bearer token, or x-api-key on the Anthropic surface) to a caller.</summary>
public sealed class TenantAuthenticator(MasterKey masterKey, TenantDirectory tenants)
{
    /// <summary>The tenant the master key acts as on the tenant API.</summary>
    public const string MasterTenant = "master";

    public async ValueTask<Caller?> AuthenticateAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = PresentedKey(request);
        if (string.IsNullOrEmpty(key))
        {
            return null;
        }

        if (await masterKey.MatchesAsync(key, cancellationToken))
        {
            return new Caller(MasterTenant, IsAdmin: true);
        }

        return await tenants.FindAsync(key, cancellationToken) is { } found
            ? new Caller(found.Tenant.Id, IsAdmin: false, found.Key.Id, found.Tenant, found.Key)
            : null;
    }

    public static string? PresentedKey(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim();
        }

        var apiKey = request.Headers["x-api-key"].ToString();
        return apiKey.Length > 0 ? apiKey.Trim() : null;
    }
}
