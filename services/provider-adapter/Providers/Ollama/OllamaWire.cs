using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Images;
using static AiMesh.ProviderAdapter.Providers.ChatRequestParts;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// Ollama's native chat API: <c>POST {BaseUrl}/api/chat</c>, streaming as newline-delimited JSON. No key
/// is needed; one that is configured is sent as a bearer token (Ollama behind a proxy, or its cloud).
/// Images must be base64 data URLs: Ollama takes raw base64 and cannot fetch an http(s) URL, so the
/// adapter fetches those first (<see cref="ImageInliner"/>) unless image fetching is disabled.
/// </summary>
public sealed class OllamaWire : IProviderWire, IInlineImageWire
{
    private const string Provider = ProviderTypes.Ollama;

    /// <summary>Only user messages carry images to Ollama.</summary>
    public bool MustInline(string role, Uri url) => role == "user";

    public WireRequest BuildRequest(DeploymentConfig deployment, ChatCompletionRequest request, bool stream, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var body = TranslateRequest(request, deployment.UpstreamModel(request.Model!), stream);
        KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("Authorization", $"Bearer {apiKey}")];
        var uri = new Uri(deployment.BaseUrl, deployment.BaseUrl.AbsolutePath.EndsWith("/api/", StringComparison.Ordinal) ? "chat" : "api/chat");
        return new WireRequest(uri, Utf8(body), headers, stream ? "application/x-ndjson" : "application/json");
    }

    /// <summary>The /api/chat request for an OpenAI chat request.</summary>
    public static JsonObject TranslateRequest(ChatCompletionRequest request, string model, bool stream)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.N is > 1)
        {
            throw new UnsupportedRequestException($"Provider '{Provider}' returns one choice per request: 'n' must be 1.", "n");
        }

        var messages = request.Messages ?? [];
        var toolNames = ToolNames(messages);
        var translated = new JsonArray();
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            var param = $"messages[{i}].content";
            switch (message.Role)
            {
                case "system" or "developer":
                    translated.Add(new JsonObject { ["role"] = "system", ["content"] = Text(message.Content) });
                    break;
                case "user":
                    translated.Add(UserMessage(message.Content, param));
                    break;
                case "assistant":
                    var assistant = new JsonObject { ["role"] = "assistant", ["content"] = Text(message.Content) };
                    var calls = ToolCalls(message.ToolCalls);
                    if (calls.Count > 0)
                    {
                        assistant["tool_calls"] = new JsonArray(calls.Select(c => (JsonNode?)new JsonObject
                        {
                            ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = ArgumentsObject(c.Arguments) },
                        }).ToArray());
                    }

                    translated.Add(assistant);
                    break;
                case "tool":
                    var result = new JsonObject { ["role"] = "tool", ["content"] = Text(message.Content) };
                    if (message.ToolCallId is not null && toolNames.TryGetValue(message.ToolCallId, out var name))
                    {
                        result["tool_name"] = name;
                    }

                    translated.Add(result);
                    break;
                default:
                    throw new UnsupportedRequestException($"Provider '{Provider}' does not accept role '{message.Role}'.", $"messages[{i}].role");
            }
        }

        var body = new JsonObject { ["model"] = model, ["messages"] = translated, ["stream"] = stream };
        var tools = Tools(request.Tools, Provider);
        // Ollama has no tool_choice: "none" leaves the tools out; any other choice lets the model decide.
        if (tools.Count > 0 && ToolChoice(request.ToolChoice)?.Mode != "none")
        {
            body["tools"] = new JsonArray(tools.Select(tool =>
            {
                var function = new JsonObject { ["name"] = tool.Name };
                if (tool.Description is not null)
                {
                    function["description"] = tool.Description;
                }

                function["parameters"] = tool.Parameters is { } parameters ? Node(parameters) : new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() };
                return (JsonNode?)new JsonObject { ["type"] = "function", ["function"] = function };
            }).ToArray());
        }

        switch (ResponseFormat(request.ResponseFormat))
        {
            case { Type: "json_object" }:
                body["format"] = "json";
                break;
            case { Type: "json_schema", Schema: { } schema }:
                body["format"] = Node(schema);
                break;
        }

        if (Options(request) is { Count: > 0 } options)
        {
            body["options"] = options;
        }

        // Ollama's own fields, for callers who know which provider serves them.
        foreach (var name in new[] { "keep_alive", "think" })
        {
            if (Extra(request, name) is { } value)
            {
                body[name] = Node(value);
            }
        }

        return body;
    }

    public WireCompletion ReadCompletion(ReadOnlyMemory<byte> body, WireContext context) => TranslateCompletion(body, context);

    /// <summary>An /api/chat answer as an OpenAI completion.</summary>
    public static WireCompletion TranslateCompletion(ReadOnlyMemory<byte> body, WireContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("The answer is not an Ollama chat response.");
        }

        var calls = ReadToolCalls(message);
        var toolCalls = new JsonArray(calls.Select(c => (JsonNode?)OpenAiFormat.ToolCall(c.Id, c.Name, c.Arguments)).ToArray());
        var text = Str(message, "content");
        var usage = ReadUsage(root);
        var choice = OpenAiFormat.Choice(0, string.IsNullOrEmpty(text) && calls.Count > 0 ? null : text ?? string.Empty, toolCalls, FinishReason(Str(root, "done_reason"), calls.Count > 0));
        var completion = OpenAiFormat.Completion(OpenAiFormat.NewCompletionId(), Str(root, "model") ?? context.Model, context.Created, [choice], usage);
        return new WireCompletion(completion, usage);
    }

    public async IAsyncEnumerable<WireChunk> ReadStreamAsync(Stream body, WireContext context, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var writer = new ChunkWriter(OpenAiFormat.NewCompletionId(), context.Model, context.Created);
        var toolCount = 0;
        var first = true;
        // The reader decodes UTF-8 across reads, so a character split between network packets arrives whole.
        using var reader = new StreamReader(body, Encoding.UTF8, detectEncodingFromByteOrderMarks: false);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException("A stream line is not a JSON object.");
            }

            if (root.TryGetProperty("error", out _))
            {
                throw new ProviderStreamException(OpenAiWire.ReadError(line, 500, context.ApiKey), 500);
            }

            var delta = new JsonObject();
            if (first)
            {
                writer.Model = Str(root, "model") ?? writer.Model;
                delta["role"] = "assistant";
                first = false;
            }

            if (root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object)
            {
                if (Str(message, "content") is { Length: > 0 } text)
                {
                    delta["content"] = text;
                }

                var calls = ReadToolCalls(message);
                if (calls.Count > 0)
                {
                    // Ollama sends each tool call whole: one delta carries id, name and all arguments.
                    delta["tool_calls"] = new JsonArray(calls.Select((call, n) => (JsonNode?)new JsonObject
                    {
                        ["index"] = toolCount + n,
                        ["id"] = call.Id,
                        ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = call.Arguments },
                    }).ToArray());
                    toolCount += calls.Count;
                }
            }

            var done = root.TryGetProperty("done", out var doneValue) && doneValue.ValueKind == JsonValueKind.True;
            if (delta.Count > 0 || done)
            {
                yield return writer.Delta(delta, done ? FinishReason(Str(root, "done_reason"), toolCount > 0) : null);
            }

            if (done)
            {
                if (ReadUsage(root) is { } usage)
                {
                    yield return writer.Usage(usage);
                }

                yield break;
            }
        }

        throw new IOException("The stream ended before the provider finished its answer.");
    }

    public ProviderError ReadError(string body, int status, string? apiKey) => OpenAiWire.ReadError(body, status, apiKey);

    public static string FinishReason(string? doneReason, bool hasToolCalls) => doneReason switch
    {
        "length" => OpenAiFormat.Length,
        _ when hasToolCalls => OpenAiFormat.ToolCalls,
        _ => OpenAiFormat.Stop,
    };

    /// <summary>prompt_eval_count (left out when Ollama reused its prompt cache) and eval_count; null when neither is there.</summary>
    public static WireUsage? ReadUsage(JsonElement root)
    {
        var prompt = Int(root, "prompt_eval_count");
        var completion = Int(root, "eval_count");
        return prompt is null && completion is null ? null : new WireUsage(prompt ?? 0, completion ?? 0, 0);
    }

    private static JsonObject UserMessage(JsonElement? content, string param)
    {
        var texts = new List<string>();
        var images = new JsonArray();
        foreach (var part in Parts(content))
        {
            switch (part.Type)
            {
                case "text" or "refusal":
                    texts.Add(part.Text ?? string.Empty);
                    break;
                case "image_url" when DataUrl.TryParse(part.Url, out _, out var data):
                    images.Add(data);
                    break;
                case "image_url":
                    throw new UnsupportedRequestException($"Provider '{Provider}' accepts images only as base64 data URLs.", param);
                default:
                    throw new UnsupportedRequestException($"Provider '{Provider}' does not accept '{part.Type}' content parts.", param);
            }
        }

        var message = new JsonObject { ["role"] = "user", ["content"] = string.Join("\n", texts) };
        if (images.Count > 0)
        {
            message["images"] = images;
        }

        return message;
    }

    private static JsonObject Options(ChatCompletionRequest request)
    {
        var options = new JsonObject();
        if (request.Temperature is { } temperature)
        {
            options["temperature"] = temperature;
        }

        if (request.TopP is { } topP)
        {
            options["top_p"] = topP;
        }

        if (ExtraNumber(request, "top_k") is { } topK)
        {
            options["top_k"] = (int)topK;
        }

        if (request.Seed is { } seed)
        {
            options["seed"] = seed;
        }

        if (MaxTokens(request) is { } maxTokens)
        {
            options["num_predict"] = maxTokens;
        }

        if (Stops(request.Stop) is { Count: > 0 } stops)
        {
            options["stop"] = new JsonArray(stops.Select(s => (JsonNode?)s).ToArray());
        }

        if (request.PresencePenalty is { } presence)
        {
            options["presence_penalty"] = presence;
        }

        if (request.FrequencyPenalty is { } frequency)
        {
            options["frequency_penalty"] = frequency;
        }

        if (Extra(request, "options") is { ValueKind: JsonValueKind.Object } extra)
        {
            foreach (var property in extra.EnumerateObject())
            {
                options[property.Name] = Node(property.Value);
            }
        }

        return options;
    }

    private static List<RequestToolCall> ReadToolCalls(JsonElement message)
    {
        var calls = new List<RequestToolCall>();
        if (message.TryGetProperty("tool_calls", out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in toolCalls.EnumerateArray())
            {
                if (call.ValueKind == JsonValueKind.Object && call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                {
                    calls.Add(new RequestToolCall(
                        Str(call, "id") ?? OpenAiFormat.NewToolCallId(),
                        Str(function, "name") ?? string.Empty,
                        OpenAiFormat.JsonText(function.TryGetProperty("arguments", out var arguments) ? arguments : null)));
                }
            }
        }

        return calls;
    }

    private static int? Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : null;
}
