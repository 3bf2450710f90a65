using System.Text.Json;
using System.Text.RegularExpressions;

namespace AiMesh.Validation;

/// <summary>Checks of the nested JSON shapes FluentValidation sees only as <see cref="JsonElement"/>: content parts and tools.</summary>
public static partial class RequestShapes
{
    /// <summary>Each part carries its payload: a text part a string <c>text</c>, an image part a string URL.</summary>
    public static bool HaveWellFormedParts(JsonElement? content) =>
        content is not { ValueKind: JsonValueKind.Array } parts || parts.EnumerateArray().All(part =>
            part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
            || type.GetString() switch
            {
                "text" => part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String,
                "image_url" => ImageUrl(part) is not null,
                _ => true,
            });

    /// <summary>The image parts of all messages.</summary>
    public static int CountImages(IEnumerable<Contracts.ChatMessage>? messages) =>
        messages?.Sum(m => m.Content is { ValueKind: JsonValueKind.Array } parts
            ? parts.EnumerateArray().Count(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueEquals("image_url"))
            : 0) ?? 0;

    /// <summary>The decoded size of the largest inline (data URL) image of a message, estimated from its base64 length.</summary>
    public static long LargestInlineImageBytes(JsonElement? content) =>
        content is { ValueKind: JsonValueKind.Array } parts
            ? parts.EnumerateArray()
                .Select(ImageUrl)
                .Where(url => url?.StartsWith("data:", StringComparison.OrdinalIgnoreCase) == true)
                .Select(url => (long)(url!.Length - url.IndexOf(',', StringComparison.Ordinal) - 1) * 3 / 4)
                .DefaultIfEmpty(0)
                .Max()
            : 0;

    /// <summary>
    /// Tools as OpenAI defines them: at most <paramref name="max"/>; a <c>function</c> tool names its
    /// function (1–64 of a-z, A-Z, 0-9, _ and -) and gives its parameters, if any, as a JSON Schema object.
    /// Other tool types are passed on for the provider to judge.
    /// </summary>
    public static bool AreValidTools(JsonElement? tools, int max) => tools switch
    {
        null or { ValueKind: JsonValueKind.Null } => true,
        { ValueKind: JsonValueKind.Array } array => array.GetArrayLength() <= max && array.EnumerateArray().All(IsValidTool),
        _ => false,
    };

    /// <summary><c>none</c>, <c>auto</c>, <c>required</c>, or an object naming a tool.</summary>
    public static bool IsValidToolChoice(JsonElement? choice) => choice switch
    {
        null or { ValueKind: JsonValueKind.Null } => true,
        { ValueKind: JsonValueKind.String } text => text.GetString() is "none" or "auto" or "required",
        { ValueKind: JsonValueKind.Object } => true,
        _ => false,
    };

    private static bool IsValidTool(JsonElement tool)
    {
        if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        if (!type.ValueEquals("function"))
        {
            return true;
        }

        return tool.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object
            && function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String && FunctionName().IsMatch(name.GetString()!)
            && (!function.TryGetProperty("parameters", out var parameters) || parameters.ValueKind == JsonValueKind.Object)
            && (!function.TryGetProperty("description", out var description) || description.ValueKind == JsonValueKind.String);
    }

    /// <summary>An image part's URL: <c>image_url</c> as a string or as <c>{"url": ...}</c>; null when absent.</summary>
    public static string? ImageUrl(JsonElement part) =>
        part.ValueKind == JsonValueKind.Object && part.TryGetProperty("image_url", out var image)
            ? image.ValueKind == JsonValueKind.String ? image.GetString()
            : image.ValueKind == JsonValueKind.Object && image.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String ? url.GetString()
            : null
            : null;

    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex FunctionName();
}
