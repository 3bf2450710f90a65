namespace AiMesh.Router.Auth;

/// <summary>Who is calling; <paramref name="KeyId"/> is null for the master key.</summary>
public sealed record Caller(string TenantId, bool IsAdmin, string? KeyId = null);

/// <summary>Maps the presented key (Bearer token, or x-api-key on the Anthropic surface) to a caller.</summary>
public sealed class TenantAuthenticator(MasterKey masterKey)
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

        return await masterKey.MatchesAsync(key, cancellationToken) ? new Caller(MasterTenant, IsAdmin: true) : null;
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
