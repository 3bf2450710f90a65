using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.Router.OpenAi;

namespace AiMesh.Router.Anthropic;

/// <summary>
/// Translates an Anthropic Messages API request into AiMesh's internal OpenAI chat request:
/// system → a system message; text, image (base64 or URL), tool_use and tool_result blocks →
/// content parts, tool calls and tool messages; tools' <c>input_schema</c> → function parameters;
/// tool_choice, max_tokens, stop_sequences, temperature, top_p, top_k.
/// </summary>
public static class AnthropicRequests
{
    public static (ChatCompletionRequest? Request, GatewayError? Error) Translate(JsonObject body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return (Build(body), null);
        }
        catch (AnthropicRequestException exception)
        {
            return (null, GatewayError.BadRequest(exception.Message, exception.Param));
        }
        catch (Exception exception) when (exception is InvalidOperationException or FormatException or JsonException)
        {
            // A field of the wrong JSON kind (e.g. a number where a string belongs).
            return (null, GatewayError.BadRequest($"The request does not match the Messages API: {exception.Message}", code: "invalid_json"));
        }
    }

    private static ChatCompletionRequest Build(JsonObject body)
    {
        var model = body["model"] is JsonValue m && m.TryGetValue<string>(out var name) && name.Length > 0
            ? name
            : throw new AnthropicRequestException("model: Field required.", "model");
        if (body["max_tokens"] is not JsonValue maxValue || !maxValue.TryGetValue<int>(out var maxTokens))
        {
            throw new AnthropicRequestException("max_tokens: Field required (an integer).", "max_tokens");
        }

        if (body["messages"] is not JsonArray messages)
        {
            throw new AnthropicRequestException("messages: Field required (an array).", "messages");
        }

        var translated = new List<ChatMessage>();
        switch (body["system"])
        {
            case null:
                break;
            case JsonValue system:
                translated.Add(Message("system", JsonValue.Create(system.GetValue<string>())));
                break;
            case JsonArray blocks:
                translated.Add(Message("system", JsonValue.Create(string.Join("\n\n", blocks.Select(b => Text(b, "system"))))));
                break;
            default:
                throw new AnthropicRequestException("system: must be a string or an array of text blocks.", "system");
        }

        var toolUses = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < messages.Count; i++)
        {
            translated.AddRange(TranslateMessage(messages[i] as JsonObject ?? throw new AnthropicRequestException($"messages.{i}: must be an object.", $"messages.{i}"), i, toolUses));
        }

        // Anthropic's own ranges, narrower than OpenAI's that validation applies to the translated request.
        if (body["temperature"] is JsonValue temperature && temperature.GetValue<double>() is < 0 or > 1)
        {
            throw new AnthropicRequestException("temperature: must be between 0 and 1.", "temperature");
        }

        if (body["stop_sequences"] is { } stopSequences && (stopSequences is not JsonArray list || list.Any(stop => stop is not JsonValue v || !v.TryGetValue<string>(out _))))
        {
            throw new AnthropicRequestException("stop_sequences: must be an array of strings.", "stop_sequences");
        }

        if (body["tools"] is { } toolList && toolList is not JsonArray)
        {
            throw new AnthropicRequestException("tools: must be an array of tools.", "tools");
        }

        // Thinking blocks have no place in the internal (OpenAI) request and answer, so a request for
        // extended thinking is refused rather than answered without it.
        if (body["thinking"] is { } thinking)
        {
            var thinkingType = thinking is JsonObject o && o["type"] is JsonValue v && v.TryGetValue<string>(out var t) ? t : null;
            if (thinkingType == "enabled")
            {
                throw new AnthropicRequestException("thinking: extended thinking is not supported through AiMesh; send the request without it or with type 'disabled'.", "thinking");
            }

            if (thinkingType != "disabled")
            {
                throw new AnthropicRequestException("thinking: must be an object whose type is 'enabled' or 'disabled'.", "thinking");
            }
        }

        var extra = new Dictionary<string, JsonElement>();
        if (body["top_k"] is { } topK)
        {
            if (topK is not JsonValue k || !k.TryGetValue<int>(out var topKValue) || topKValue < 0)
            {
                throw new AnthropicRequestException("top_k: must be an integer of 0 or more.", "top_k");
            }

            extra["top_k"] = Element(topK);
        }

        if (body["tool_choice"]?["disable_parallel_tool_use"]?.GetValue<bool>() == true)
        {
            extra["parallel_tool_calls"] = JsonSerializer.SerializeToElement(false);
        }

        return new ChatCompletionRequest
        {
            Model = model,
            Messages = translated,
            MaxTokens = maxTokens,
            Stream = body["stream"]?.GetValue<bool>() == true ? true : null,
            Temperature = body["temperature"]?.GetValue<double>(),
            TopP = body["top_p"]?.GetValue<double>(),
            Stop = body["stop_sequences"] is JsonArray stops && stops.Count > 0 ? Element(stops) : null,
            User = body["metadata"]?["user_id"]?.GetValue<string>(),
            Tools = body["tools"] is JsonArray tools && tools.Count > 0 ? Element(new JsonArray(tools.Select((t, i) => (JsonNode)Tool(t, i)).ToArray())) : null,
            ToolChoice = body["tool_choice"] is JsonObject choice ? ToolChoice(choice, body["tools"] as JsonArray) : null,
            Extra = extra.Count > 0 ? extra : null,
        };
    }

    private static List<ChatMessage> TranslateMessage(JsonObject message, int index, HashSet<string> toolUses)
    {
        var role = message["role"]?.GetValue<string>();
        if (role is not ("user" or "assistant"))
        {
            throw new AnthropicRequestException($"messages.{index}.role: must be 'user' or 'assistant'.", $"messages.{index}.role");
        }

        var content = message["content"];
        if (content is JsonValue text)
        {
            return [Message(role, JsonValue.Create(text.GetValue<string>()))];
        }

        if (content is not JsonArray blocks)
        {
            throw new AnthropicRequestException($"messages.{index}.content: Field required (a string or an array of content blocks).", $"messages.{index}.content");
        }

        if (blocks.Count == 0)
        {
            throw new AnthropicRequestException($"messages.{index}.content: must hold at least one content block.", $"messages.{index}.content");
        }

        return role == "user" ? UserMessages(blocks, index, toolUses) : [AssistantMessage(blocks, index, toolUses)];
    }

    /// <summary>Tool results become tool messages, ahead of the user's other content (OpenAI's order); each answers an earlier tool_use.</summary>
    private static List<ChatMessage> UserMessages(JsonArray blocks, int index, HashSet<string> toolUses)
    {
        var result = new List<ChatMessage>();
        var parts = new JsonArray();
        foreach (var block in blocks)
        {
            var type = block?["type"]?.GetValue<string>();
            switch (type)
            {
                case "text":
                    parts.Add(new JsonObject { ["type"] = "text", ["text"] = Text(block, $"messages.{index}.content") });
                    break;
                case "image":
                    parts.Add(Image(block!, index));
                    break;
                case "tool_result":
                    var id = block!["tool_use_id"]?.GetValue<string>() ?? throw new AnthropicRequestException($"messages.{index}.content: a tool_result needs tool_use_id.", $"messages.{index}.content");
                    if (!toolUses.Contains(id))
                    {
                        throw new AnthropicRequestException($"messages.{index}.content: the tool_result for '{id}' answers no tool_use block of an earlier assistant message.", $"messages.{index}.content");
                    }

                    var resultText = block["content"] switch
                    {
                        null => string.Empty,
                        JsonValue value => value.GetValue<string>(),
                        JsonArray inner => string.Join("\n", inner.Where(b => b?["type"]?.GetValue<string>() == "text").Select(b => Text(b, $"messages.{index}.content"))),
                        _ => throw new AnthropicRequestException($"messages.{index}.content: a tool_result's content must be a string or blocks.", $"messages.{index}.content"),
                    };
                    if (block["is_error"]?.GetValue<bool>() == true)
                    {
                        resultText = "Error: " + resultText;
                    }

                    result.Add(new ChatMessage { Role = "tool", ToolCallId = id, Content = JsonSerializer.SerializeToElement(resultText) });
                    break;
                case "thinking" or "redacted_thinking":
                    break;
                default:
                    throw new AnthropicRequestException($"messages.{index}.content: content block type '{type}' is not supported.", $"messages.{index}.content");
            }
        }

        if (parts.Count > 0)
        {
            result.Add(Message("user", parts.Count == 1 && parts[0]!["type"]!.GetValue<string>() == "text" ? JsonValue.Create(parts[0]!["text"]!.GetValue<string>()) : parts));
        }

        return result;
    }

    private static ChatMessage AssistantMessage(JsonArray blocks, int index, HashSet<string> toolUses)
    {
        var text = new List<string>();
        var calls = new JsonArray();
        foreach (var block in blocks)
        {
            switch (block?["type"]?.GetValue<string>())
            {
                case "text":
                    text.Add(Text(block, $"messages.{index}.content"));
                    break;
                case "tool_use":
                    var id = block["id"]?.GetValue<string>();
                    var name = block["name"]?.GetValue<string>();
                    if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(name))
                    {
                        throw new AnthropicRequestException($"messages.{index}.content: a tool_use block needs an id and a name.", $"messages.{index}.content");
                    }

                    toolUses.Add(id);
                    calls.Add(new JsonObject
                    {
                        ["id"] = id,
                        ["type"] = "function",
                        ["function"] = new JsonObject
                        {
                            ["name"] = name,
                            ["arguments"] = block["input"]?.ToJsonString() ?? "{}",
                        },
                    });
                    break;
                case "thinking" or "redacted_thinking":
                    break;
                case var other:
                    throw new AnthropicRequestException($"messages.{index}.content: content block type '{other}' is not supported in an assistant message.", $"messages.{index}.content");
            }
        }

        return new ChatMessage
        {
            Role = "assistant",
            Content = text.Count > 0 ? JsonSerializer.SerializeToElement(string.Concat(text)) : JsonSerializer.SerializeToElement<string?>(null),
            ToolCalls = calls.Count > 0 ? Element(calls) : null,
        };
    }

    private static JsonObject Image(JsonNode block, int index)
    {
        var source = block["source"] as JsonObject ?? throw new AnthropicRequestException($"messages.{index}.content: an image needs a source.", $"messages.{index}.content");
        var url = source["type"]?.GetValue<string>() switch
        {
            "base64" => $"data:{ImageMediaType(source, index)};base64,{source["data"]?.GetValue<string>()}",
            "url" => source["url"]?.GetValue<string>(),
            var other => throw new AnthropicRequestException($"messages.{index}.content: image source type '{other}' is not supported (use base64 or url).", $"messages.{index}.content"),
        };
        return new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = url } };
    }

    /// <summary>The media types Anthropic takes for a base64 image.</summary>
    private static string ImageMediaType(JsonObject source, int index) =>
        source["media_type"]?.GetValue<string>() is "image/jpeg" or "image/png" or "image/gif" or "image/webp"
            ? source["media_type"]!.GetValue<string>()
            : throw new AnthropicRequestException($"messages.{index}.content: an image's media_type must be image/jpeg, image/png, image/gif or image/webp.", $"messages.{index}.content");

    private static JsonObject Tool(JsonNode? tool, int index)
    {
        var name = tool?["name"]?.GetValue<string>() ?? throw new AnthropicRequestException($"tools.{index}.name: Field required.", $"tools.{index}.name");
        var function = new JsonObject { ["name"] = name };
        if (tool["description"] is { } description)
        {
            function["description"] = description.DeepClone();
        }

        function["parameters"] = tool["input_schema"]?.DeepClone() ?? throw new AnthropicRequestException($"tools.{index}.input_schema: Field required.", $"tools.{index}.input_schema");
        return new JsonObject { ["type"] = "function", ["function"] = function };
    }

    private static JsonElement? ToolChoice(JsonObject choice, JsonArray? tools) => choice["type"]?.GetValue<string>() switch
    {
        "auto" => JsonSerializer.SerializeToElement("auto"),
        "any" => JsonSerializer.SerializeToElement("required"),
        "none" => JsonSerializer.SerializeToElement("none"),
        "tool" => Element(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = ChosenTool(choice, tools) } }),
        var other => throw new AnthropicRequestException($"tool_choice.type: '{other}' is not one of auto, any, tool, none.", "tool_choice"),
    };

    /// <summary>The tool a <c>{"type": "tool"}</c> choice names: one of the request's tools.</summary>
    private static string ChosenTool(JsonObject choice, JsonArray? tools)
    {
        var name = choice["name"]?.GetValue<string>();
        return name is not null && tools?.Any(t => t?["name"]?.GetValue<string>() == name) == true
            ? name
            : throw new AnthropicRequestException($"tool_choice.name: '{name}' is not the name of one of the request's tools.", "tool_choice");
    }

    private static string Text(JsonNode? block, string where) =>
        block?["type"]?.GetValue<string>() == "text" && block["text"] is JsonValue text
            ? text.GetValue<string>()
            : throw new AnthropicRequestException($"{where}: expected a text block.", where);

    private static ChatMessage Message(string role, JsonNode? content) => new() { Role = role, Content = Element(content) };

    private static JsonElement Element(JsonNode? node) => JsonSerializer.SerializeToElement(node, AiMeshJson.Options);

    private sealed class AnthropicRequestException(string message, string? param) : Exception(message)
    {
        public string? Param { get; } = param;
    }
}
