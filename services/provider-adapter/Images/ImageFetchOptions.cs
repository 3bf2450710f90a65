using Microsoft.Extensions.Options;

namespace AiMesh.ProviderAdapter.Images;

/// <summary>
/// How the gateway fetches an image URL for a provider that needs the image inline (section
/// <c>AiMesh:ImageFetch</c>). Only a public address is ever connected to: see <see cref="ImageAddressPolicy"/>.
/// </summary>
public sealed class ImageFetchOptions
{
    public const string Section = "AiMesh:ImageFetch";

    public static readonly IReadOnlyList<string> DefaultSchemes = ["https"];

    public static readonly IReadOnlyList<string> DefaultContentTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"];

    /// <summary>Fetch http(s) image URLs for providers that need inline images (Ollama, Gemini). Off: such providers refuse image URLs.</summary>
    /// <value>Defaults to true.</value>
    public bool Enabled { get; set; } = true;

    /// <summary>URL schemes that may be fetched, <c>https</c> and/or <c>http</c>; checked again on every redirect.</summary>
    /// <value>Defaults to <c>https</c> only (unset or empty).</value>
    public List<string>? AllowedSchemes { get; set; }

    /// <summary>The largest image, in bytes, counted as it is read (a Content-Length is not trusted).</summary>
    /// <value>Defaults to 20 MiB.</value>
    public long MaxBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>Time for one image: connecting, every redirect and the whole body.</summary>
    /// <value>Defaults to 10 s.</value>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Redirects followed per image, each target checked like the first URL.</summary>
    /// <value>Defaults to 3.</value>
    public int MaxRedirects { get; set; } = 3;

    /// <summary>Image URLs fetched for one request; more is a 400.</summary>
    /// <value>Defaults to 8.</value>
    public int MaxImagesPerRequest { get; set; } = 8;

    /// <summary>Media types an image may have (the response's Content-Type).</summary>
    /// <value>Defaults to image/png, image/jpeg, image/gif and image/webp (unset or empty).</value>
    public List<string>? AllowedContentTypes { get; set; }

    /// <summary>
    /// Connect to loopback, private, link-local and other reserved addresses too. Only for tests and closed
    /// networks: it lets a caller make the gateway fetch from inside its network (SSRF).
    /// </summary>
    /// <value>Defaults to false.</value>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>When not empty, only these hosts may be fetched: <c>images.example.com</c> or <c>*.example.com</c> (any subdomain).</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Hosts never fetched (same patterns as <see cref="AllowedHosts"/>); checked first.</summary>
    public List<string> BlockedHosts { get; set; } = [];

    public IReadOnlyList<string> EffectiveSchemes => AllowedSchemes is { Count: > 0 } schemes ? schemes : DefaultSchemes;

    public IReadOnlyList<string> EffectiveContentTypes => AllowedContentTypes is { Count: > 0 } types ? types : DefaultContentTypes;
}

/// <summary>Reports every invalid image-fetch setting at once, naming each.</summary>
internal sealed class ImageFetchOptionsValidator : IValidateOptions<ImageFetchOptions>
{
    public const long MaxBytesLimit = 100 * 1024 * 1024;

    public ValidateOptionsResult Validate(string? name, ImageFetchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string at = ImageFetchOptions.Section;
        var errors = new List<string>();
        for (var i = 0; i < (options.AllowedSchemes?.Count ?? 0); i++)
        {
            if (options.AllowedSchemes![i] is not { } scheme || !(scheme.Equals("https", StringComparison.OrdinalIgnoreCase) || scheme.Equals("http", StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add($"{at}:AllowedSchemes:{i} '{options.AllowedSchemes[i]}' is not supported; use https or http.");
            }
        }

        if (options.MaxBytes is <= 0 or > MaxBytesLimit)
        {
            errors.Add($"{at}:MaxBytes must be between 1 and {MaxBytesLimit} bytes.");
        }

        if (options.Timeout <= TimeSpan.Zero || options.Timeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{at}:Timeout must be positive and at most 5 minutes.");
        }

        if (options.MaxRedirects is < 0 or > 10)
        {
            errors.Add($"{at}:MaxRedirects must be between 0 and 10.");
        }

        if (options.MaxImagesPerRequest is < 1 or > 100)
        {
            errors.Add($"{at}:MaxImagesPerRequest must be between 1 and 100.");
        }

        for (var i = 0; i < (options.AllowedContentTypes?.Count ?? 0); i++)
        {
            var type = options.AllowedContentTypes![i];
            if (type is null || !type.StartsWith("image/", StringComparison.OrdinalIgnoreCase) || type.Length == "image/".Length || type.IndexOfAny([';', ' ', '*', ',']) >= 0)
            {
                errors.Add($"{at}:AllowedContentTypes:{i} '{type}' is not an image media type (e.g. image/png).");
            }
        }

        HostPatterns(options.AllowedHosts, $"{at}:AllowedHosts", errors);
        HostPatterns(options.BlockedHosts, $"{at}:BlockedHosts", errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void HostPatterns(List<string> hosts, string setting, List<string> errors)
    {
        for (var i = 0; i < hosts.Count; i++)
        {
            var host = hosts[i];
            var bare = host is null ? null : host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
            if (string.IsNullOrWhiteSpace(bare) || bare.Contains('*', StringComparison.Ordinal) || Uri.CheckHostName(bare.Trim('[', ']')) == UriHostNameType.Unknown)
            {
                errors.Add($"{setting}:{i} '{host}' is not a host name (e.g. images.example.com or *.example.com).");
            }
        }
    }
}
