using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Providers;
using Microsoft.Extensions.Options;

namespace AiMesh.ProviderAdapter.Images;

/// <summary>
/// A wire whose provider cannot fetch (some) http(s) image URLs itself: before the wire builds the
/// request, <see cref="ImageInliner"/> fetches those images safely and turns them into data URLs.
/// </summary>
public interface IInlineImageWire
{
    /// <summary>Whether an http(s) image URL in a message of <paramref name="role"/> must reach the provider as inline data.</summary>
    bool MustInline(string role, Uri url);
}

/// <summary>
/// Replaces the http(s) image URLs a wire cannot pass on by data URLs, once per call to the adapter
/// (every retry and every key of the call reuse the result). Each distinct URL is fetched once,
/// through <see cref="ImageFetcher"/>.
/// </summary>
public sealed class ImageInliner(ImageFetcher fetcher, IOptions<ImageFetchOptions> options)
{
    /// <summary>The request with the images inlined; the same instance when there is nothing to fetch.</summary>
    /// <exception cref="ImageFetchException">An image URL is refused or could not be fetched; <see cref="ImageFetchException.Param"/> names its content part.</exception>
    public async Task<ChatCompletionRequest> InlineAsync(ChatCompletionRequest request, IInlineImageWire wire, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(wire);
        var settings = options.Value;
        if (!settings.Enabled || request.Messages is not { Count: > 0 } messages)
        {
            return request;
        }

        var found = new List<(int Message, int Part, Uri Url)>();
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].Content is not { ValueKind: JsonValueKind.Array } content || messages[i].Role is not { } role)
            {
                continue;
            }

            var j = 0;
            foreach (var part in content.EnumerateArray())
            {
                if (ChatRequestParts.Str(part, "type") == "image_url"
                    && Uri.TryCreate(ImageUrl(part), UriKind.Absolute, out var url)
                    && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)
                    && wire.MustInline(role, url))
                {
                    found.Add((i, j, url));
                }

                j++;
            }
        }

        if (found.Count == 0)
        {
            return request;
        }

        if (found.Count > settings.MaxImagesPerRequest)
        {
            var (m, p, _) = found[settings.MaxImagesPerRequest];
            throw new ImageFetchException(ImageFetchException.Refused,
                $"The request has {found.Count} image URLs to fetch; at most {settings.MaxImagesPerRequest} are fetched per request (send the others as data URLs).", Param(m, p));
        }

        var fetched = new Dictionary<Uri, string>();
        foreach (var (m, p, url) in found)
        {
            if (!fetched.ContainsKey(url))
            {
                try
                {
                    fetched[url] = (await fetcher.FetchAsync(url, cancellationToken)).ToDataUrl();
                }
                catch (ImageFetchException exception)
                {
                    throw exception.At(Param(m, p));
                }
            }
        }

        var inlined = new List<ChatMessage>(messages);
        foreach (var group in found.GroupBy(f => f.Message))
        {
            var content = JsonNode.Parse(messages[group.Key].Content!.Value.GetRawText())!.AsArray();
            foreach (var (_, p, url) in group)
            {
                var part = content[p]!.AsObject();
                if (part["image_url"] is JsonObject image)
                {
                    image["url"] = fetched[url];
                }
                else
                {
                    part["image_url"] = fetched[url];
                }
            }

            inlined[group.Key] = messages[group.Key] with { Content = JsonSerializer.SerializeToElement(content) };
        }

        return request with { Messages = inlined };
    }

    private static string Param(int message, int part) => $"messages[{message}].content[{part}]";

    private static string? ImageUrl(JsonElement part) =>
        part.TryGetProperty("image_url", out var image)
            ? image.ValueKind == JsonValueKind.String ? image.GetString() : ChatRequestParts.Str(image, "url")
            : null;
}
