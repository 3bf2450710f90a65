using AiMesh.Contracts;
using AiMesh.Router.Auth;

namespace AiMesh.Router.Pipeline;

/// <summary>A reservation made with the tenant and, when the key has limits of its own, with the key.</summary>
/// <param name="DeniedFor">Who refused, for the error message: "Tenant 'acme'" or "Key 'key_…'".</param>
public sealed record QuotaGateResult(string Subject, string? KeySubject, QuotaDecision Decision, string DeniedFor);

/// <summary>
/// Reserves a request's quota with its tenant, then with its key when the key has limits of its own:
/// the key's limits come on top of the tenant's, and a refusal by the key releases the tenant's
/// reservation. Settling the reservations made is the caller's.
/// </summary>
public static class QuotaGate
{
    public static string TenantSubject(Caller caller) => QuotaSubjects.Tenant(caller.TenantId);

    /// <summary>The key's own quota subject, or null when the key has no limits of its own (the tenant's apply).</summary>
    public static string? KeySubject(Caller caller) => caller.Key?.Limits?.Any() == true ? QuotaSubjects.Key(caller.Key.Id) : null;

    public static async Task<QuotaGateResult> ReserveAsync(IQuotaClient quota, Caller caller, QuotaReservation reservation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(quota);
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(reservation);
        var subject = TenantSubject(caller);
        var keySubject = KeySubject(caller);
        var decision = await quota.ReserveAsync(subject, reservation with { Limits = caller.Tenant?.Limits }, cancellationToken);
        var deniedFor = $"Tenant '{caller.TenantId}'";
        if (decision.Allowed && keySubject is not null)
        {
            var keyDecision = await quota.ReserveAsync(keySubject, reservation with { Limits = caller.Key!.Limits }, cancellationToken);
            if (!keyDecision.Allowed)
            {
                await quota.SettleAsync(subject, new QuotaSettlement(reservation.RequestId, 0, 0m), CancellationToken.None);
                decision = keyDecision;
                deniedFor = $"Key '{caller.KeyId}'";
            }
        }

        return new QuotaGateResult(subject, keySubject, decision, deniedFor);
    }
}
