namespace AiMesh.ProviderAdapter.Images;

/// <summary>
/// An image URL the gateway would not or could not fetch: the caller's to fix, a 400 with <see cref="Code"/>.
/// The message says what is wrong in general terms only: never which address a host resolved to.
/// </summary>
public sealed class ImageFetchException : Exception
{
    /// <summary>The URL is refused by policy (scheme, host, private or reserved address, too many redirects).</summary>
    public const string Refused = "image_url_refused";

    public const string TooLarge = "image_too_large";

    public const string UnsupportedType = "image_type_not_allowed";

    public const string TimedOut = "image_fetch_timeout";

    /// <summary>The URL did not answer with an image (DNS, connection, HTTP error status).</summary>
    public const string Failed = "image_fetch_failed";

    public ImageFetchException(string code, string message, string? param = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        Param = param;
    }

    public string Code { get; }

    /// <summary>The content part the URL came from, e.g. <c>messages[1].content[0]</c>.</summary>
    public string? Param { get; }

    public ImageFetchException At(string param) => new(Code, Message, param, this);
}
