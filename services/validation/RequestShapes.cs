using System.Buffers.Text;
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
                "file" => IsWellFormedFile(part),
                _ => true,
            });

    /// <summary>A file part: <c>"file": {"file_data": a base64 data URL, or "file_id": string, "filename": string}</c>.</summary>
    private static bool IsWellFormedFile(JsonElement part)
    {
        if (!part.TryGetProperty("file", out var file) || file.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        var data = file.TryGetProperty("file_data", out var d) ? d : default;
        var id = file.TryGetProperty("file_id", out var i) ? i : default;
        return (data.ValueKind == JsonValueKind.String || id.ValueKind == JsonValueKind.String)
            && data.ValueKind is JsonValueKind.Undefined or JsonValueKind.String
            && id.ValueKind is JsonValueKind.Undefined or JsonValueKind.String
            && (!file.TryGetProperty("filename", out var name) || name.ValueKind == JsonValueKind.String);
    }

    /// <summary>The image parts of all messages.</summary>
    public static int CountImages(IEnumerable<Contracts.ChatMessage>? messages) =>
        messages?.Sum(m => m?.Content is { ValueKind: JsonValueKind.Array } parts
            ? parts.EnumerateArray().Count(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.IsText("image_url"))
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

        if (!type.IsText("function"))
        {
            return true;
        }

        return tool.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object
            && function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String && FunctionName().IsMatch(name.GetString()!)
            && (!function.TryGetProperty("parameters", out var parameters) || parameters.ValueKind == JsonValueKind.Object)
            && (!function.TryGetProperty("description", out var description) || description.ValueKind == JsonValueKind.String);
    }

    /// <summary>
    /// What is wrong with a message's inline media, or null: an image given as a data URL must be
    /// <c>data:image/…;base64,</c> and valid base64; an audio part is <c>{"data": base64, "format": "wav" or "mp3"}</c>.
    /// </summary>
    public static string? InlineMediaError(JsonElement? content)
    {
        if (content is not { ValueKind: JsonValueKind.Array } parts)
        {
            return null;
        }

        foreach (var part in parts.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type))
            {
                continue;
            }

            if (type.IsText("image_url") && ImageUrl(part) is { } url && url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            {
                var comma = url.IndexOf(',', StringComparison.Ordinal);
                var header = comma < 0 ? string.Empty : url[5..comma];
                if (!header.StartsWith("image/", StringComparison.OrdinalIgnoreCase) || header.Split(';')[0].Length <= "image/".Length
                    || !header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                {
                    return "An inline image must be a base64 data URL of an image, such as 'data:image/png;base64,iVBORw0...'.";
                }

                if (!IsBase64(url.AsSpan(comma + 1)))
                {
                    return "The data of an inline image is not valid base64.";
                }
            }
            else if (type.IsText("input_audio"))
            {
                if (!part.TryGetProperty("input_audio", out var audio) || audio.ValueKind != JsonValueKind.Object
                    || !audio.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.String
                    || !audio.TryGetProperty("format", out var format) || !(format.IsText("wav") || format.IsText("mp3")))
                {
                    return "An 'input_audio' part needs 'input_audio': {\"data\": base64 audio, \"format\": \"wav\" or \"mp3\"}.";
                }

                if (!IsBase64(data.GetString()))
                {
                    return "The data of an 'input_audio' part is not valid base64.";
                }
            }
        }

        return null;
    }

    private static bool IsBase64(ReadOnlySpan<char> text) => !text.IsEmpty && Base64.IsValid(text);

    /// <summary>
    /// What is wrong with an assistant message's <c>tool_calls</c>, or null: an array of calls, each with a
    /// string <c>id</c>; a <c>function</c> call names its function and gives its arguments as a string.
    /// </summary>
    public static string? ToolCallsError(JsonElement? toolCalls)
    {
        const string Shape = "'tool_calls' must be an array of {\"id\": string, \"type\": \"function\", \"function\": {\"name\": string, \"arguments\": a JSON string}}.";
        if (toolCalls is null or { ValueKind: JsonValueKind.Null })
        {
            return null;
        }

        if (toolCalls.Value.ValueKind != JsonValueKind.Array)
        {
            return Shape;
        }

        foreach (var call in toolCalls.Value.EnumerateArray())
        {
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString()!.Length == 0)
            {
                return Shape;
            }

            var type = call.TryGetProperty("type", out var t) ? t : default;
            if (type.ValueKind is JsonValueKind.Undefined || type.IsText("function"))
            {
                if (!call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
                    || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                    || !function.TryGetProperty("arguments", out var arguments) || arguments.ValueKind != JsonValueKind.String)
                {
                    return Shape;
                }
            }
            else if (type.ValueKind != JsonValueKind.String)
            {
                return Shape;
            }
        }

        return null;
    }

    /// <summary>The ids of an assistant message's tool calls.</summary>
    public static IEnumerable<string> ToolCallIds(JsonElement? toolCalls) =>
        toolCalls is { ValueKind: JsonValueKind.Array } calls
            ? calls.EnumerateArray()
                .Where(c => c.ValueKind == JsonValueKind.Object && c.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
                .Select(c => c.GetProperty("id").GetString()!)
            : [];

    /// <summary>
    /// A tool choice the tools can satisfy: <c>required</c> or a named tool needs tools, and a named
    /// function must be one of them. (The shape itself is <see cref="IsValidToolChoice"/>'s.)
    /// </summary>
    public static string? ToolChoiceError(JsonElement? choice, JsonElement? tools)
    {
        var hasTools = tools is { ValueKind: JsonValueKind.Array } array && array.GetArrayLength() > 0;
        switch (choice)
        {
            case { ValueKind: JsonValueKind.String } text when text.IsText("required") && !hasTools:
                return "'tool_choice' is \"required\" but the request has no 'tools'.";
            case { ValueKind: JsonValueKind.Object } named:
                if (!hasTools)
                {
                    return "'tool_choice' names a tool but the request has no 'tools'.";
                }

                if (!named.TryGetProperty("type", out var type) || !type.IsText("function"))
                {
                    return null;
                }

                if (!named.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
                    || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                {
                    return "'tool_choice' of type \"function\" must be {\"type\": \"function\", \"function\": {\"name\": string}}.";
                }

                var wanted = name.GetString()!;
                return FunctionNames(tools!.Value).Contains(wanted, StringComparer.Ordinal)
                    ? null
                    : $"'tool_choice' names the function '{wanted}', which is not among the request's 'tools'.";
            default:
                return null;
        }
    }

    private static IEnumerable<string> FunctionNames(JsonElement tools) =>
        tools.EnumerateArray()
            .Where(t => t.ValueKind == JsonValueKind.Object && t.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object
                && f.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String)
            .Select(t => t.GetProperty("function").GetProperty("name").GetString()!);

    /// <summary>
    /// <c>{"type": "text"}</c>, <c>{"type": "json_object"}</c>, or <c>{"type": "json_schema", "json_schema":
    /// {"name": …, "schema": {…}, "strict": bool}}</c> with a name like a function's.
    /// </summary>
    public static bool IsValidResponseFormat(JsonElement? format)
    {
        if (format is null or { ValueKind: JsonValueKind.Null })
        {
            return true;
        }

        if (format.Value.ValueKind != JsonValueKind.Object || !format.Value.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        if (type.IsText("text") || type.IsText("json_object"))
        {
            return true;
        }

        return type.IsText("json_schema")
            && format.Value.TryGetProperty("json_schema", out var schema) && schema.ValueKind == JsonValueKind.Object
            && schema.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String && FunctionName().IsMatch(name.GetString()!)
            && (!schema.TryGetProperty("schema", out var body) || body.ValueKind == JsonValueKind.Object)
            && (!schema.TryGetProperty("strict", out var strict) || strict.ValueKind is JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null)
            && (!schema.TryGetProperty("description", out var description) || description.ValueKind == JsonValueKind.String);
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
