namespace AiMesh.Router.Pipeline;

/// <summary>The request id: the caller's <c>x-request-id</c> when it is sane, else a new one; always echoed.</summary>
public static class RequestIds
{
    public const string Header = "x-request-id";

    public static string Resolve(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var presented = context.Request.Headers[Header].ToString();
        var id = IsSane(presented) ? presented : $"req_{Guid.CreateVersion7():N}";
        context.Response.Headers[Header] = id;
        return id;
    }

    private static bool IsSane(string value) =>
        value.Length is > 0 and <= 128 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':');
}
