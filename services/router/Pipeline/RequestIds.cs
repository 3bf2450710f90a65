using System.Buffers.Binary;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// A request's ids. AiMesh gives every request an id of its own, which the ledger, the quota
/// reservations, the logs and the traces key by: unique, so a caller that sends an
/// <c>x-request-id</c> again (a retrying client, or on purpose) cannot make the ledger take a
/// request for a redelivery and leave it uncounted. The caller's <c>x-request-id</c>, when it is sane, is
/// echoed and kept alongside for correlation.
/// </summary>
public static class RequestIds
{
    public const string Header = "x-request-id";

    /// <summary>AiMesh's own id of the request, always set on the response.</summary>
    public const string AiMeshHeader = "x-aimesh-request-id";

    /// <summary>
    /// Sets <c>x-request-id</c> (the caller's id when sane, else AiMesh's) and <c>x-aimesh-request-id</c>
    /// on the response and returns both ids.
    /// </summary>
    public static RequestIdentity Resolve(HttpContext context, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(time);
        var presented = context.Request.Headers[Header].ToString();
        var client = IsSane(presented) ? presented : null;
        var id = New(time);
        context.Response.Headers[Header] = client ?? id;
        context.Response.Headers[AiMeshHeader] = id;
        return new RequestIdentity(id, client);
    }

    /// <summary>
    /// "req_" and 32 hex digits laid out as a UUIDv7 (48 bits of Unix milliseconds, then 74 random bits), so
    /// ids sort by time. The random bits come from <see cref="Random.Shared"/>: an id is not a secret, and
    /// Guid.CreateVersion7 costs a read of /dev/urandom per request here.
    /// </summary>
    public static string New(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        Span<byte> milliseconds = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(milliseconds, time.GetUtcNow().ToUnixTimeMilliseconds());
        milliseconds[2..].CopyTo(bytes);
        bytes[6] = (byte)(0x70 | (bytes[6] & 0x0F)); // version 7
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F)); // variant 10
        return "req_" + Convert.ToHexStringLower(bytes);
    }

    private static bool IsSane(string value) =>
        value.Length is > 0 and <= 128 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':');
}

/// <summary>AiMesh's id of a request, and the caller's own <c>x-request-id</c> when it sent a sane one.</summary>
public readonly record struct RequestIdentity(string Id, string? ClientId);
