using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>One content part of an OpenAI message, read for translation.</summary>
/// <param name="Type"><c>text</c>, <c>image_url</c>, <c>input_audio</c>, <c>file</c> or <c>refusal</c>.</param>
/// <param name="Text">The text of a text or refusal part.</param>
/// <param name="Url">An image part's URL (http(s) or data URL), a file part's data URL, or an audio part as a data URL.</param>
public sealed record ContentPart(string Type, string? Text, string? Url);

/// <summary>A tool call of an assistant message in the request.</summary>
public sealed record RequestToolCall(string Id, string Name, string Arguments);

/// <summary>A function tool the caller offers.</summary>
public sealed record RequestTool(string Name, string? Description, JsonElement? Parameters);

/// <summary>The caller's tool choice: <c>auto</c>, <c>none</c>, <c>required</c>, or <c>function</c> with <see cref="Name"/>.</summary>
public sealed record RequestToolChoice(string Mode, string? Name);

/// <summary>The caller's <c>response_format</c>: <c>text</c>, <c>json_object</c> or <c>json_schema</c> with its schema.</summary>
public sealed record RequestResponseFormat(string Type, string? Name, JsonElement? Schema);

/// <summary>Reads the parts of an OpenAI chat request that the translating wires need.</summary>
public static class ChatRequestParts
{
    /// <summary>A message's text: the string, or the text (and refusal) parts joined by <paramref name="separator"/>.</summary>
    public static string Text(JsonElement? content, string separator = "\n")
    {
        if (content is not { } c)
        {
            return string.Empty;
        }

        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString()!;
        }

        return string.Join(separator, Parts(c).Where(p => p.Text is not null).Select(p => p.Text));
    }

    /// <summary>The content parts of a message; a string content is one text part.</summary>
    public static IReadOnlyList<ContentPart> Parts(JsonElement? content)
    {
        if (content is not { } c || c.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return [];
        }

        if (c.ValueKind == JsonValueKind.String)
        {
            return [new ContentPart("text", c.GetString(), null)];
        }

        var parts = new List<ContentPart>();
        if (c.ValueKind != JsonValueKind.Array)
        {
            return parts;
        }

        foreach (var part in c.EnumerateArray())
        {
            var type = Str(part, "type") ?? string.Empty;
            parts.Add(type switch
            {
                "text" => new ContentPart(type, Str(part, "text") ?? string.Empty, null),
                "refusal" => new ContentPart(type, Str(part, "refusal") ?? string.Empty, null),
                "image_url" => new ContentPart(type, null, part.TryGetProperty("image_url", out var image)
                    ? image.ValueKind == JsonValueKind.String ? image.GetString() : Str(image, "url")
                    : null),
                "file" => new ContentPart(type, null, part.TryGetProperty("file", out var file) ? Str(file, "file_data") : null),
                // Audio as a data URL, so a provider that takes inline media reads it like any other.
                "input_audio" => new ContentPart(type, null, part.TryGetProperty("input_audio", out var audio) && Str(audio, "data") is { } data
                    ? $"data:audio/{Str(audio, "format") ?? "wav"};base64,{data}"
                    : null),
                _ => new ContentPart(type, null, null),
            });
        }

        return parts;
    }

    /// <summary>The tool calls of an assistant message.</summary>
    public static IReadOnlyList<RequestToolCall> ToolCalls(JsonElement? toolCalls)
    {
        if (toolCalls is not { ValueKind: JsonValueKind.Array } calls)
        {
            return [];
        }

        var result = new List<RequestToolCall>();
        foreach (var call in calls.EnumerateArray())
        {
            if (call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
            {
                result.Add(new RequestToolCall(Str(call, "id") ?? OpenAiFormat.NewToolCallId(), Str(function, "name") ?? string.Empty, Str(function, "arguments") ?? "{}"));
            }
        }

        return result;
    }

    /// <summary>The function name of every tool call in the conversation, by tool call id (tool results need it on some providers).</summary>
    public static Dictionary<string, string> ToolNames(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var message in messages.Where(m => m.Role == "assistant"))
        {
            foreach (var call in ToolCalls(message.ToolCalls))
            {
                names[call.Id] = call.Name;
            }
        }

        return names;
    }

    /// <summary>The function tools offered; any other tool type cannot be translated.</summary>
    public static IReadOnlyList<RequestTool> Tools(JsonElement? tools, string provider)
    {
        if (tools is not { ValueKind: JsonValueKind.Array } array)
        {
            return [];
        }

        var result = new List<RequestTool>();
        foreach (var tool in array.EnumerateArray())
        {
            if (Str(tool, "type") is not ("function" or null) || !tool.TryGetProperty("function", out var function) || Str(function, "name") is not { } name)
            {
                throw new UnsupportedRequestException($"Provider '{provider}' supports only function tools.", "tools");
            }

            result.Add(new RequestTool(
                name,
                Str(function, "description"),
                function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object ? parameters : null));
        }

        return result;
    }

    public static RequestToolChoice? ToolChoice(JsonElement? toolChoice) => toolChoice switch
    {
        { ValueKind: JsonValueKind.String } s => new RequestToolChoice(s.GetString()!, null),
        { ValueKind: JsonValueKind.Object } o when o.TryGetProperty("function", out var f) => new RequestToolChoice("function", Str(f, "name")),
        _ => null,
    };

    public static RequestResponseFormat? ResponseFormat(JsonElement? responseFormat)
    {
        if (responseFormat is not { ValueKind: JsonValueKind.Object } format || Str(format, "type") is not { } type)
        {
            return null;
        }

        if (type == "json_schema" && format.TryGetProperty("json_schema", out var jsonSchema) && jsonSchema.ValueKind == JsonValueKind.Object)
        {
            return new RequestResponseFormat(type, Str(jsonSchema, "name"),
                jsonSchema.TryGetProperty("schema", out var schema) && schema.ValueKind == JsonValueKind.Object ? schema : null);
        }

        return new RequestResponseFormat(type, null, null);
    }

    /// <summary><c>stop</c> as a list (a string or an array of strings).</summary>
    public static IReadOnlyList<string> Stops(JsonElement? stop) => stop switch
    {
        { ValueKind: JsonValueKind.String } s => [s.GetString()!],
        { ValueKind: JsonValueKind.Array } a => a.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToList(),
        _ => [],
    };

    /// <summary>The output token limit: <c>max_completion_tokens</c>, else <c>max_tokens</c>.</summary>
    public static int? MaxTokens(ChatCompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.MaxCompletionTokens ?? request.MaxTokens;
    }

    /// <summary>A field the request carries beyond OpenAI's modelled ones (e.g. <c>top_k</c>).</summary>
    public static JsonElement? Extra(ChatCompletionRequest request, string name)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Extra is { } extra && extra.TryGetValue(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;
    }

    /// <summary>A number from the extra fields (e.g. <c>top_k</c>), or null.</summary>
    public static double? ExtraNumber(ChatCompletionRequest request, string name) =>
        Extra(request, name) is { ValueKind: JsonValueKind.Number } n ? n.GetDouble() : null;

    /// <summary>Tool call arguments as a JSON object (an empty text is <c>{}</c>).</summary>
    /// <exception cref="UnsupportedRequestException">The arguments are not a JSON object.</exception>
    public static JsonObject ArgumentsObject(string arguments)
    {
        if (string.IsNullOrWhiteSpace(arguments))
        {
            return [];
        }

        try
        {
            if (JsonNode.Parse(arguments) is JsonObject parsed)
            {
                return parsed;
            }
        }
        catch (JsonException)
        {
            // Reported below.
        }

        throw new UnsupportedRequestException("The arguments of an assistant tool call must be a JSON object.", "messages");
    }

    /// <summary>A tool result as a JSON object: the content when it is one, else <c>{"result": content}</c>.</summary>
    public static JsonObject ResultObject(string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var trimmed = content.TrimStart();
        if (trimmed.StartsWith('{'))
        {
            try
            {
                if (JsonNode.Parse(content) is JsonObject parsed)
                {
                    return parsed;
                }
            }
            catch (JsonException)
            {
                // Not JSON after all: wrap it.
            }
        }

        return new JsonObject { ["result"] = content };
    }

    /// <summary>A JSON element as a mutable node.</summary>
    public static JsonNode? Node(JsonElement element) => JsonNode.Parse(element.GetRawText());

    public static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>The request as UTF-8 JSON.</summary>
    public static byte[] Utf8(JsonNode body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return Encoding.UTF8.GetBytes(body.ToJsonString());
    }
}

/// <summary>A <c>data:</c> URL with base64 content (how OpenAI callers inline images and files).</summary>
public static class DataUrl
{
    public static bool TryParse(string? url, out string mediaType, out string base64)
    {
        mediaType = string.Empty;
        base64 = string.Empty;
        if (url is null || !url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0)
        {
            return false;
        }

        var meta = url[5..comma];
        if (!meta.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        mediaType = meta[..^";base64".Length].Split(';')[0].Trim().ToLowerInvariant();
        base64 = url[(comma + 1)..];
        return mediaType.Length > 0;
    }

    /// <summary>Whether the URL is an absolute http(s) URL.</summary>
    public static bool IsHttp(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>The media type of a linked file guessed from its extension (image/jpeg when unknown).</summary>
    public static string GuessMediaType(string url)
    {
        var path = Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.AbsolutePath : url;
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".png" => "image/png",
            ".gif" => "image/gif",
            ".webp" => "image/webp",
            ".heic" => "image/heic",
            ".heif" => "image/heif",
            ".pdf" => "application/pdf",
            _ => "image/jpeg",
        };
    }
}
