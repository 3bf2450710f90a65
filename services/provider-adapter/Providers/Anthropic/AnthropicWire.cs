using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using static AiMesh.ProviderAdapter.Providers.ChatRequestParts;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// Anthropic's Messages API: <c>POST {BaseUrl}/v1/messages</c> with <c>x-api-key</c> and
/// <c>anthropic-version: 2023-06-01</c>. Translates OpenAI's chat request to a Messages request and the
/// message, its server-sent events and its errors back to OpenAI's completion, chunks and error.
/// </summary>
public sealed class AnthropicWire : IProviderWire
{
    public const string Version = "2023-06-01";

    /// <summary>Anthropic requires <c>max_tokens</c>; this is sent when the caller names no limit.</summary>
    public const int DefaultMaxTokens = 4096;

    private const string Provider = ProviderTypes.Anthropic;

    public WireRequest BuildRequest(DeploymentConfig deployment, ChatCompletionRequest request, bool stream, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var body = TranslateRequest(request, deployment.UpstreamModel(request.Model!), stream);
        var headers = new List<KeyValuePair<string, string>> { new("anthropic-version", Version) };
        if (apiKey is not null)
        {
            headers.Add(new("x-api-key", apiKey));
        }

        // The SDKs' base URL has no /v1; accept one that has.
        var uri = new Uri(deployment.BaseUrl, deployment.BaseUrl.AbsolutePath.EndsWith("/v1/", StringComparison.Ordinal) ? "messages" : "v1/messages");
        return new WireRequest(uri, Utf8(body), headers, stream ? "text/event-stream" : "application/json");
    }

    /// <summary>The Messages API request for an OpenAI chat request.</summary>
    public static JsonObject TranslateRequest(ChatCompletionRequest request, string model, bool stream)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.N is > 1)
        {
            throw new UnsupportedRequestException($"Provider '{Provider}' returns one choice per request: 'n' must be 1.", "n");
        }

        var system = new List<string>();
        var turns = new List<(string Role, List<JsonNode> Blocks)>();
        var messages = request.Messages ?? [];
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            string role;
            List<JsonNode> blocks;
            switch (message.Role)
            {
                case "system" or "developer":
                    var text = Text(message.Content);
                    if (text.Length > 0)
                    {
                        system.Add(text);
                    }

                    continue;
                case "user":
                    role = "user";
                    blocks = ContentBlocks(message.Content, $"messages[{i}].content");
                    break;
                case "assistant":
                    role = "assistant";
                    blocks = ContentBlocks(message.Content, $"messages[{i}].content");
                    blocks.AddRange(ToolCalls(message.ToolCalls).Select(call => (JsonNode)new JsonObject
                    {
                        ["type"] = "tool_use",
                        ["id"] = call.Id,
                        ["name"] = call.Name,
                        ["input"] = ArgumentsObject(call.Arguments),
                    }));
                    break;
                case "tool":
                    // A tool result is a user turn; consecutive results (parallel calls) share one.
                    role = "user";
                    blocks = [ToolResult(message, $"messages[{i}].content")];
                    break;
                default:
                    throw new UnsupportedRequestException($"Provider '{Provider}' does not accept role '{message.Role}'.", $"messages[{i}].role");
            }

            if (blocks.Count == 0)
            {
                continue;
            }

            if (turns.Count > 0 && turns[^1].Role == role)
            {
                turns[^1].Blocks.AddRange(blocks);
            }
            else
            {
                turns.Add((role, blocks));
            }
        }

        var body = new JsonObject
        {
            ["model"] = model,
            ["max_tokens"] = MaxTokens(request) ?? DefaultMaxTokens,
            ["messages"] = new JsonArray(turns.Select(t => (JsonNode)new JsonObject { ["role"] = t.Role, ["content"] = new JsonArray(t.Blocks.ToArray()) }).ToArray()),
        };

        if (JsonInstruction(ResponseFormat(request.ResponseFormat)) is { } instruction)
        {
            system.Add(instruction);
        }

        if (system.Count > 0)
        {
            body["system"] = string.Join("\n\n", system);
        }

        if (request.Temperature is { } temperature)
        {
            // OpenAI's range is 0–2, Anthropic's 0–1.
            body["temperature"] = Math.Clamp(temperature, 0, 1);
        }

        if (request.TopP is { } topP)
        {
            body["top_p"] = topP;
        }

        if (ExtraNumber(request, "top_k") is { } topK)
        {
            body["top_k"] = (int)topK;
        }

        if (Stops(request.Stop) is { Count: > 0 } stops)
        {
            body["stop_sequences"] = new JsonArray(stops.Select(s => (JsonNode?)s).ToArray());
        }

        AddTools(request, body);
        if (request.User is { Length: > 0 } user)
        {
            body["metadata"] = new JsonObject { ["user_id"] = user };
        }

        // Anthropic's own fields, for callers who know which provider serves them.
        foreach (var name in new[] { "thinking", "metadata", "service_tier" })
        {
            if (Extra(request, name) is { } value)
            {
                body[name] = Node(value);
            }
        }

        if (stream)
        {
            body["stream"] = true;
        }

        return body;
    }

    public WireCompletion ReadCompletion(ReadOnlyMemory<byte> body, WireContext context) => TranslateCompletion(body, context);

    /// <summary>An Anthropic message as an OpenAI completion.</summary>
    public static WireCompletion TranslateCompletion(ReadOnlyMemory<byte> body, WireContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("The answer is not an Anthropic message.");
        }

        var text = new StringBuilder();
        var hasText = false;
        var toolCalls = new JsonArray();
        foreach (var block in content.EnumerateArray())
        {
            switch (Str(block, "type"))
            {
                case "text":
                    text.Append(Str(block, "text"));
                    hasText = true;
                    break;
                case "tool_use":
                    toolCalls.Add(OpenAiFormat.ToolCall(Str(block, "id") ?? OpenAiFormat.NewToolCallId(), Str(block, "name") ?? string.Empty,
                        OpenAiFormat.JsonText(block.TryGetProperty("input", out var input) ? input : null)));
                    break;
                default:
                    // thinking, redacted_thinking and server-tool blocks have no place in OpenAI's answer.
                    break;
            }
        }

        var usage = root.TryGetProperty("usage", out var u) ? ReadUsage(u) : null;
        var choice = OpenAiFormat.Choice(0, hasText ? text.ToString() : null, toolCalls, FinishReason(Str(root, "stop_reason")));
        var completion = OpenAiFormat.Completion(Str(root, "id") ?? OpenAiFormat.NewCompletionId(), Str(root, "model") ?? context.Model, context.Created, [choice], usage);
        return new WireCompletion(completion, usage);
    }

    public async IAsyncEnumerable<WireChunk> ReadStreamAsync(Stream body, WireContext context, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var writer = new ChunkWriter(OpenAiFormat.NewCompletionId(), context.Model, context.Created);
        var toolIndexes = new Dictionary<int, int>();
        var usage = new StreamUsage();
        string? finish = null;
        var roleSent = false;
        JsonObject First(JsonObject delta)
        {
            if (!roleSent)
            {
                roleSent = true;
                delta["role"] = "assistant";
                delta.TryAdd("content", delta.ContainsKey("tool_calls") ? null : string.Empty);
            }

            return delta;
        }

        await foreach (var item in SseParser.Create(body).EnumerateAsync(cancellationToken))
        {
            if (string.IsNullOrWhiteSpace(item.Data))
            {
                continue;
            }

            using var document = JsonDocument.Parse(item.Data);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException("A stream event is not a JSON object.");
            }

            switch (Str(root, "type") ?? item.EventType)
            {
                case "message_start":
                    if (root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object)
                    {
                        writer.Id = Str(message, "id") ?? writer.Id;
                        writer.Model = Str(message, "model") ?? writer.Model;
                        if (message.TryGetProperty("usage", out var startUsage))
                        {
                            usage.Read(startUsage);
                        }
                    }

                    // The role goes out with the first text or tool call: until then nothing has been sent,
                    // so an error event right after message_start still lets the router fail over.
                    break;
                case "content_block_start" when root.TryGetProperty("content_block", out var block):
                    var blockIndex = Int(root, "index");
                    if (Str(block, "type") == "text" && Str(block, "text") is { Length: > 0 } initialText)
                    {
                        yield return writer.Delta(First(new JsonObject { ["content"] = initialText }));
                    }
                    else if (Str(block, "type") == "tool_use")
                    {
                        var toolIndex = toolIndexes.Count;
                        toolIndexes[blockIndex] = toolIndex;
                        var arguments = block.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.Object && input.EnumerateObject().Any()
                            ? input.GetRawText()
                            : string.Empty;
                        yield return writer.Delta(First(ChunkWriter.ToolCallStart(toolIndex, Str(block, "id") ?? OpenAiFormat.NewToolCallId(), Str(block, "name") ?? string.Empty, arguments)));
                    }

                    break;
                case "content_block_delta" when root.TryGetProperty("delta", out var delta):
                    var deltaIndex = Int(root, "index");
                    if (Str(delta, "type") == "text_delta" && Str(delta, "text") is { Length: > 0 } text)
                    {
                        yield return writer.Delta(First(new JsonObject { ["content"] = text }));
                    }
                    else if (Str(delta, "type") == "input_json_delta" && Str(delta, "partial_json") is { Length: > 0 } fragment
                        && toolIndexes.TryGetValue(deltaIndex, out var fragmentTool))
                    {
                        yield return writer.Delta(First(ChunkWriter.ToolCallArguments(fragmentTool, fragment)));
                    }

                    // thinking_delta, signature_delta and citations_delta have no place in OpenAI's answer.
                    break;
                case "message_delta":
                    finish = FinishReason(root.TryGetProperty("delta", out var messageDelta) ? Str(messageDelta, "stop_reason") : null);
                    if (root.TryGetProperty("usage", out var deltaUsage))
                    {
                        usage.Read(deltaUsage);
                    }

                    yield return writer.Delta(First([]), finish);
                    break;
                case "message_stop":
                    if (finish is null)
                    {
                        yield return writer.Delta(First([]), OpenAiFormat.Stop);
                    }

                    yield return writer.Usage(usage.ToWireUsage());
                    yield break;
                case "error":
                    // An event has no HTTP status of its own: its type says which one it stands for.
                    var (error, status) = TranslateError(item.Data, 0, context.ApiKey);
                    throw new ProviderStreamException(error, status);
                default:
                    // ping, content_block_stop and events added later carry nothing to translate.
                    break;
            }
        }

        throw new IOException("The stream ended before the provider finished its answer.");
    }

    public ProviderError ReadError(string body, int status, string? apiKey) => TranslateError(body, status, apiKey).Error;

    /// <summary>
    /// <c>{"type":"error","error":{"type","message"}}</c> in OpenAI's terms, and the HTTP status its type
    /// stands for (an error event inside a stream has none: overloaded_error is 529, api_error 500, ...).
    /// </summary>
    public static (ProviderError Error, int Status) TranslateError(string body, int status, string? apiKey)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                && Str(error, "message") is { } message)
            {
                var type = Str(error, "type");
                var errorStatus = type switch
                {
                    "invalid_request_error" => 400,
                    "authentication_error" => 401,
                    "billing_error" => 402,
                    "permission_error" => 403,
                    "not_found_error" => 404,
                    "request_too_large" => 413,
                    "rate_limit_error" => 429,
                    "api_error" => 500,
                    "timeout_error" => 504,
                    "overloaded_error" => 529,
                    _ => status >= 400 ? status : 500,
                };
                var openAiType = type switch
                {
                    "invalid_request_error" or "authentication_error" or "permission_error" or "rate_limit_error" => type,
                    "not_found_error" or "request_too_large" => "invalid_request_error",
                    _ => OpenAiWire.DefaultType(errorStatus),
                };
                var code = type is null || type == openAiType ? null : type;
                return (new ProviderError(CredentialScrubber.Scrub(message, apiKey), openAiType, code), status >= 400 ? status : errorStatus);
            }
        }
        catch (JsonException)
        {
            // Not JSON: the generic message below.
        }

        status = status >= 400 ? status : 500;
        return (OpenAiWire.ReadError(body, status, apiKey), status);
    }

    public static string FinishReason(string? stopReason) => stopReason switch
    {
        "max_tokens" or "model_context_window_exceeded" => OpenAiFormat.Length,
        "tool_use" => OpenAiFormat.ToolCalls,
        "refusal" => OpenAiFormat.ContentFilter,
        _ => OpenAiFormat.Stop,
    };

    /// <summary>Anthropic counts cached and cache-writing input apart; OpenAI's prompt_tokens include them.</summary>
    public static WireUsage? ReadUsage(JsonElement usage)
    {
        if (usage.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var cacheRead = Int(usage, "cache_read_input_tokens");
        return new WireUsage(Int(usage, "input_tokens") + cacheRead + Int(usage, "cache_creation_input_tokens"), Int(usage, "output_tokens"), cacheRead);
    }

    private static List<JsonNode> ContentBlocks(JsonElement? content, string param)
    {
        var blocks = new List<JsonNode>();
        foreach (var part in Parts(content))
        {
            switch (part.Type)
            {
                case "text" or "refusal":
                    // Anthropic refuses empty text blocks.
                    if (!string.IsNullOrEmpty(part.Text))
                    {
                        blocks.Add(new JsonObject { ["type"] = "text", ["text"] = part.Text });
                    }

                    break;
                case "image_url":
                    blocks.Add(ImageBlock(part.Url, param));
                    break;
                case "file" when DataUrl.TryParse(part.Url, out var mediaType, out var data) && mediaType == "application/pdf":
                    blocks.Add(new JsonObject
                    {
                        ["type"] = "document",
                        ["source"] = new JsonObject { ["type"] = "base64", ["media_type"] = mediaType, ["data"] = data },
                    });
                    break;
                default:
                    throw new UnsupportedRequestException($"Provider '{Provider}' does not accept '{part.Type}' content parts (files only as base64 PDF data).", param);
            }
        }

        return blocks;
    }

    private static JsonObject ImageBlock(string? url, string param)
    {
        if (DataUrl.TryParse(url, out var mediaType, out var data))
        {
            return new JsonObject
            {
                ["type"] = "image",
                ["source"] = new JsonObject { ["type"] = "base64", ["media_type"] = mediaType, ["data"] = data },
            };
        }

        if (DataUrl.IsHttp(url))
        {
            return new JsonObject { ["type"] = "image", ["source"] = new JsonObject { ["type"] = "url", ["url"] = url } };
        }

        throw new UnsupportedRequestException("An image must be an http(s) URL or a base64 data URL.", param);
    }

    private static JsonObject ToolResult(ChatMessage message, string param)
    {
        var result = new JsonObject { ["type"] = "tool_result", ["tool_use_id"] = message.ToolCallId };
        if (message.Content is { ValueKind: JsonValueKind.String } text)
        {
            if (text.GetString() is { Length: > 0 } value)
            {
                result["content"] = value;
            }
        }
        else if (ContentBlocks(message.Content, param) is { Count: > 0 } blocks)
        {
            result["content"] = new JsonArray(blocks.ToArray());
        }

        return result;
    }

    private static void AddTools(ChatCompletionRequest request, JsonObject body)
    {
        var tools = Tools(request.Tools, Provider);
        if (tools.Count == 0)
        {
            return;
        }

        body["tools"] = new JsonArray(tools.Select(tool =>
        {
            var definition = new JsonObject { ["name"] = tool.Name };
            if (tool.Description is not null)
            {
                definition["description"] = tool.Description;
            }

            definition["input_schema"] = tool.Parameters is { } parameters ? Node(parameters) : new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() };
            return (JsonNode)definition;
        }).ToArray());

        JsonObject? choice = ToolChoice(request.ToolChoice) switch
        {
            { Mode: "auto" } => new JsonObject { ["type"] = "auto" },
            { Mode: "none" } => new JsonObject { ["type"] = "none" },
            { Mode: "required" } => new JsonObject { ["type"] = "any" },
            { Mode: "function", Name: { } name } => new JsonObject { ["type"] = "tool", ["name"] = name },
            _ => null,
        };
        if (Extra(request, "parallel_tool_calls") is { ValueKind: JsonValueKind.False } && choice?["type"]?.GetValue<string>() != "none")
        {
            choice ??= new JsonObject { ["type"] = "auto" };
            choice["disable_parallel_tool_use"] = true;
        }

        if (choice is not null)
        {
            body["tool_choice"] = choice;
        }
    }

    /// <summary>Anthropic has no JSON mode: a JSON response format becomes an instruction in the system prompt.</summary>
    private static string? JsonInstruction(RequestResponseFormat? format) => format switch
    {
        { Type: "json_object" } => "Respond with a single valid JSON object and nothing else.",
        { Type: "json_schema", Schema: { } schema } =>
            $"Respond with a single valid JSON object that conforms to this JSON schema, and nothing else:\n{schema.GetRawText()}",
        _ => null,
    };

    private static int Int(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : 0;

    /// <summary>The usage of a stream: message_start reports input, message_delta the cumulative output (and, lately, input too).</summary>
    private sealed class StreamUsage
    {
        private int _input;
        private int _cacheRead;
        private int _cacheCreation;
        private int _output;

        public void Read(JsonElement usage)
        {
            if (usage.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            _input = Read(usage, "input_tokens", _input);
            _cacheRead = Read(usage, "cache_read_input_tokens", _cacheRead);
            _cacheCreation = Read(usage, "cache_creation_input_tokens", _cacheCreation);
            _output = Read(usage, "output_tokens", _output);
        }

        public WireUsage ToWireUsage() => new(_input + _cacheRead + _cacheCreation, _output, _cacheRead);

        private static int Read(JsonElement usage, string name, int current) =>
            usage.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : current;
    }
}
