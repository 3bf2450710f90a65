using System.Net.ServerSentEvents;
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
/// Google's Gemini API: <c>POST {BaseUrl}/v1beta/models/{model}:generateContent</c> and
/// <c>:streamGenerateContent?alt=sse</c> with <c>x-goog-api-key</c>. Translates OpenAI's chat request to
/// contents, systemInstruction, tools and generationConfig, and the answer, its server-sent events and
/// its errors back to OpenAI's completion, chunks and error.
/// </summary>
/// <remarks>
/// Gemini's <c>fileData</c> takes only URIs of its own Files API, so the adapter fetches any other http(s)
/// image URL first and it arrives here as a data URL (<see cref="ImageInliner"/>), sent as <c>inlineData</c>.
/// A Files API URI (or any URL while image fetching is disabled) is passed as <c>fileData</c> with its media
/// type guessed from the URL's extension. A function call's thought signature travels in the OpenAI tool call id, so
/// it comes back with the tool call when the caller continues the conversation.
/// </remarks>
public sealed class GeminiWire : IProviderWire, IInlineImageWire
{
    private const string Provider = ProviderTypes.Gemini;
    private const string SignatureSeparator = "__thought__";

    /// <summary>The host of Gemini's Files API, whose file URIs Gemini reads itself.</summary>
    public const string FilesApiHost = "generativelanguage.googleapis.com";

    /// <summary>User and assistant messages carry images; a Files API URI stays a <c>fileData</c> part.</summary>
    public bool MustInline(string role, Uri url) =>
        role is "user" or "assistant" && !(url is { Scheme: "https" } && string.Equals(url.IdnHost, FilesApiHost, StringComparison.OrdinalIgnoreCase));

    public WireRequest BuildRequest(DeploymentConfig deployment, ChatCompletionRequest request, bool stream, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var body = TranslateRequest(request);
        var path = ModelPath(deployment.UpstreamModel(request.Model!)) + (stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
        var versioned = deployment.BaseUrl.AbsolutePath.EndsWith("/v1beta/", StringComparison.Ordinal) || deployment.BaseUrl.AbsolutePath.EndsWith("/v1/", StringComparison.Ordinal);
        KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("x-goog-api-key", apiKey)];
        return new WireRequest(new Uri(deployment.BaseUrl, versioned ? path : "v1beta/" + path), Utf8(body), headers, stream ? "text/event-stream" : "application/json");
    }

    /// <summary><c>models/NAME</c> for a bare model name; <c>models/…</c> and <c>tunedModels/…</c> as given (escaped).</summary>
    public static string ModelPath(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var slash = model.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0 && model[..slash] is "models" or "tunedModels")
        {
            return $"{model[..slash]}/{Uri.EscapeDataString(model[(slash + 1)..])}";
        }

        return "models/" + Uri.EscapeDataString(model);
    }

    /// <summary>The generateContent request for an OpenAI chat request.</summary>
    public static JsonObject TranslateRequest(ChatCompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var messages = request.Messages ?? [];
        var toolNames = ToolNames(messages);
        var system = new List<JsonNode>();
        var contents = new List<(string Role, List<JsonNode> Parts)>();
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            var param = $"messages[{i}].content";
            string role;
            List<JsonNode> parts;
            switch (message.Role)
            {
                case "system" or "developer":
                    if (Text(message.Content) is { Length: > 0 } instruction)
                    {
                        system.Add(new JsonObject { ["text"] = instruction });
                    }

                    continue;
                case "user":
                    role = "user";
                    parts = ContentParts(message.Content, param);
                    break;
                case "assistant":
                    role = "model";
                    parts = ContentParts(message.Content, param);
                    parts.AddRange(ToolCalls(message.ToolCalls).Select(FunctionCallPart));
                    break;
                case "tool":
                    // Function responses are a user turn; parallel calls answer in one.
                    role = "user";
                    if (message.ToolCallId is null || !toolNames.TryGetValue(message.ToolCallId, out var name))
                    {
                        throw new UnsupportedRequestException($"Provider '{Provider}' needs each tool result to answer a tool call of an earlier assistant message.", $"messages[{i}].tool_call_id");
                    }

                    parts = [new JsonObject { ["functionResponse"] = new JsonObject { ["name"] = name, ["response"] = ResultObject(Text(message.Content)) } }];
                    break;
                default:
                    throw new UnsupportedRequestException($"Provider '{Provider}' does not accept role '{message.Role}'.", $"messages[{i}].role");
            }

            if (parts.Count == 0)
            {
                continue;
            }

            if (contents.Count > 0 && contents[^1].Role == role)
            {
                contents[^1].Parts.AddRange(parts);
            }
            else
            {
                contents.Add((role, parts));
            }
        }

        var body = new JsonObject
        {
            ["contents"] = new JsonArray(contents.Select(c => (JsonNode)new JsonObject { ["role"] = c.Role, ["parts"] = new JsonArray(c.Parts.ToArray()) }).ToArray()),
        };
        if (system.Count > 0)
        {
            body["systemInstruction"] = new JsonObject { ["parts"] = new JsonArray(system.ToArray()) };
        }

        AddTools(request, body);
        if (GenerationConfig(request) is { Count: > 0 } config)
        {
            body["generationConfig"] = config;
        }

        // Gemini's own fields, for callers who know which provider serves them.
        foreach (var name in new[] { "safetySettings", "cachedContent" })
        {
            if (Extra(request, name) is { } value)
            {
                body[name] = Node(value);
            }
        }

        return body;
    }

    public WireCompletion ReadCompletion(ReadOnlyMemory<byte> body, WireContext context) => TranslateCompletion(body, context);

    /// <summary>A GenerateContentResponse as an OpenAI completion.</summary>
    public static WireCompletion TranslateCompletion(ReadOnlyMemory<byte> body, WireContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("The answer is not a Gemini response.");
        }

        var choices = new JsonArray();
        if (root.TryGetProperty("candidates", out var candidates) && candidates.ValueKind == JsonValueKind.Array && candidates.GetArrayLength() > 0)
        {
            var position = 0;
            foreach (var candidate in candidates.EnumerateArray())
            {
                var (text, calls) = ReadParts(candidate);
                var toolCalls = new JsonArray(calls.Select(c => (JsonNode?)OpenAiFormat.ToolCall(c.Id, c.Name, c.Arguments)).ToArray());
                var finish = FinishReason(Str(candidate, "finishReason"), calls.Count > 0);
                choices.Add(OpenAiFormat.Choice(Int(candidate, "index") ?? position, text, toolCalls, finish));
                position++;
            }
        }
        else if (root.TryGetProperty("promptFeedback", out var feedback) && Str(feedback, "blockReason") is not null)
        {
            // The prompt itself was blocked: no candidate at all.
            choices.Add(OpenAiFormat.Choice(0, string.Empty, null, OpenAiFormat.ContentFilter));
        }
        else
        {
            throw new JsonException("The answer has no candidates.");
        }

        var usage = root.TryGetProperty("usageMetadata", out var metadata) ? ReadUsage(metadata) : null;
        var completion = OpenAiFormat.Completion(Str(root, "responseId") ?? OpenAiFormat.NewCompletionId(), Str(root, "modelVersion") ?? context.Model, context.Created, choices, usage);
        return new WireCompletion(completion, usage);
    }

    public async IAsyncEnumerable<WireChunk> ReadStreamAsync(Stream body, WireContext context, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var writer = new ChunkWriter(OpenAiFormat.NewCompletionId(), context.Model, context.Created);
        var started = new HashSet<int>();
        var toolCounts = new Dictionary<int, int>();
        WireUsage? usage = null;
        var finished = false;
        var first = true;
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

            if (root.TryGetProperty("error", out _))
            {
                // An event has no HTTP status of its own: its code says which one it stands for.
                var (error, status) = TranslateError(item.Data, 0, context.ApiKey);
                throw new ProviderStreamException(error, status);
            }

            if (first)
            {
                writer.Id = Str(root, "responseId") ?? writer.Id;
                writer.Model = Str(root, "modelVersion") ?? writer.Model;
                first = false;
            }

            if (root.TryGetProperty("usageMetadata", out var metadata) && ReadUsage(metadata) is { } reported)
            {
                usage = reported;
            }

            if (root.TryGetProperty("candidates", out var candidates) && candidates.ValueKind == JsonValueKind.Array)
            {
                var position = 0;
                foreach (var candidate in candidates.EnumerateArray())
                {
                    var index = Int(candidate, "index") ?? position++;
                    var delta = new JsonObject();
                    if (started.Add(index))
                    {
                        delta["role"] = "assistant";
                    }

                    var (text, calls) = ReadParts(candidate);
                    if (!string.IsNullOrEmpty(text))
                    {
                        delta["content"] = text;
                    }

                    var count = toolCounts.GetValueOrDefault(index);
                    if (calls.Count > 0)
                    {
                        // Gemini sends each function call whole: one delta carries id, name and all arguments.
                        delta["tool_calls"] = new JsonArray(calls.Select((call, n) => (JsonNode?)new JsonObject
                        {
                            ["index"] = count + n,
                            ["id"] = call.Id,
                            ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = call.Arguments },
                        }).ToArray());
                        toolCounts[index] = count + calls.Count;
                    }

                    var finish = Str(candidate, "finishReason") is { } reason ? FinishReason(reason, toolCounts.GetValueOrDefault(index) > 0) : null;
                    finished |= finish is not null;
                    if (delta.Count > 0 || finish is not null)
                    {
                        yield return writer.Delta(delta, finish, index);
                    }
                }
            }
            else if (root.TryGetProperty("promptFeedback", out var feedback) && Str(feedback, "blockReason") is not null)
            {
                finished = true;
                yield return writer.Delta(new JsonObject { ["role"] = "assistant", ["content"] = string.Empty }, OpenAiFormat.ContentFilter);
            }
        }

        // Gemini's stream has no terminator: it is complete when a candidate said why it finished.
        if (!finished)
        {
            throw new IOException("The stream ended before the provider finished its answer.");
        }

        if (usage is { } final)
        {
            yield return writer.Usage(final);
        }
    }

    public ProviderError ReadError(string body, int status, string? apiKey) => TranslateError(body, status, apiKey).Error;

    /// <summary><c>{"error":{"code","message","status"}}</c> (sometimes inside an array) in OpenAI's terms, with the HTTP status it names.</summary>
    public static (ProviderError Error, int Status) TranslateError(string body, int status, string? apiKey)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() > 0)
            {
                root = root[0];
            }

            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                && Str(error, "message") is { } message)
            {
                var errorStatus = status >= 400 ? status : Int(error, "code") is { } code and >= 400 and < 600 ? code : 500;
                var statusName = Str(error, "status");
                var invalidKey = error.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array
                    && details.EnumerateArray().Any(d => Str(d, "reason") == "API_KEY_INVALID");
                var type = invalidKey ? "authentication_error" : statusName switch
                {
                    "UNAUTHENTICATED" => "authentication_error",
                    "PERMISSION_DENIED" => "permission_error",
                    "RESOURCE_EXHAUSTED" => "rate_limit_error",
                    "INVALID_ARGUMENT" or "FAILED_PRECONDITION" or "OUT_OF_RANGE" or "NOT_FOUND" => "invalid_request_error",
                    _ => OpenAiWire.DefaultType(errorStatus),
                };
                var errorCode = invalidKey ? "invalid_api_key" : statusName?.ToLowerInvariant();
                return (new ProviderError(CredentialScrubber.Scrub(message, apiKey), type, errorCode), errorStatus);
            }
        }
        catch (JsonException)
        {
            // Not JSON: the generic message below.
        }

        status = status >= 400 ? status : 500;
        return (OpenAiWire.ReadError(body, status, apiKey), status);
    }

    public static string FinishReason(string? finishReason, bool hasToolCalls) => finishReason switch
    {
        "MAX_TOKENS" => OpenAiFormat.Length,
        "SAFETY" or "RECITATION" or "BLOCKLIST" or "PROHIBITED_CONTENT" or "SPII" or "IMAGE_SAFETY" => OpenAiFormat.ContentFilter,
        _ when hasToolCalls => OpenAiFormat.ToolCalls,
        _ => OpenAiFormat.Stop,
    };

    /// <summary>Gemini's promptTokenCount includes the cached tokens; thinking tokens are billed as output.</summary>
    public static WireUsage? ReadUsage(JsonElement metadata)
    {
        if (metadata.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        return new WireUsage(
            Int(metadata, "promptTokenCount") ?? 0,
            (Int(metadata, "candidatesTokenCount") ?? 0) + (Int(metadata, "thoughtsTokenCount") ?? 0),
            Int(metadata, "cachedContentTokenCount") ?? 0);
    }

    private static (string? Text, List<RequestToolCall> Calls) ReadParts(JsonElement candidate)
    {
        var calls = new List<RequestToolCall>();
        StringBuilder? text = null;
        if (candidate.ValueKind == JsonValueKind.Object && candidate.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
            && content.TryGetProperty("parts", out var parts) && parts.ValueKind == JsonValueKind.Array)
        {
            foreach (var part in parts.EnumerateArray())
            {
                if (part.ValueKind != JsonValueKind.Object || part.TryGetProperty("thought", out var thought) && thought.ValueKind == JsonValueKind.True)
                {
                    continue;
                }

                if (Str(part, "text") is { } partText)
                {
                    (text ??= new StringBuilder()).Append(partText);
                }
                else if (part.TryGetProperty("functionCall", out var call) && call.ValueKind == JsonValueKind.Object)
                {
                    var id = OpenAiFormat.NewToolCallId();
                    if (Str(part, "thoughtSignature") is { Length: > 0 } signature)
                    {
                        id += SignatureSeparator + signature;
                    }

                    calls.Add(new RequestToolCall(id, Str(call, "name") ?? string.Empty, OpenAiFormat.JsonText(call.TryGetProperty("args", out var args) ? args : null)));
                }
            }
        }

        return (text?.ToString(), calls);
    }

    private static List<JsonNode> ContentParts(JsonElement? content, string param)
    {
        var parts = new List<JsonNode>();
        foreach (var part in Parts(content))
        {
            switch (part.Type)
            {
                case "text" or "refusal":
                    if (!string.IsNullOrEmpty(part.Text))
                    {
                        parts.Add(new JsonObject { ["text"] = part.Text });
                    }

                    break;
                case "image_url" or "file" or "input_audio" when DataUrl.TryParse(part.Url, out var mediaType, out var data):
                    parts.Add(new JsonObject { ["inlineData"] = new JsonObject { ["mimeType"] = mediaType, ["data"] = data } });
                    break;
                case "image_url" when DataUrl.IsHttp(part.Url):
                    parts.Add(new JsonObject { ["fileData"] = new JsonObject { ["mimeType"] = DataUrl.GuessMediaType(part.Url!), ["fileUri"] = part.Url } });
                    break;
                default:
                    throw new UnsupportedRequestException($"Provider '{Provider}' accepts images as http(s) or base64 data URLs, and files and audio as base64 data.", param);
            }
        }

        return parts;
    }

    private static JsonNode FunctionCallPart(RequestToolCall call)
    {
        var part = new JsonObject { ["functionCall"] = new JsonObject { ["name"] = call.Name, ["args"] = ArgumentsObject(call.Arguments) } };
        var separator = call.Id.IndexOf(SignatureSeparator, StringComparison.Ordinal);
        if (separator >= 0)
        {
            part["thoughtSignature"] = call.Id[(separator + SignatureSeparator.Length)..];
        }

        return part;
    }

    private static void AddTools(ChatCompletionRequest request, JsonObject body)
    {
        var tools = Tools(request.Tools, Provider);
        if (tools.Count == 0)
        {
            return;
        }

        body["tools"] = new JsonArray(new JsonObject
        {
            ["functionDeclarations"] = new JsonArray(tools.Select(tool =>
            {
                var declaration = new JsonObject { ["name"] = tool.Name };
                if (tool.Description is not null)
                {
                    declaration["description"] = tool.Description;
                }

                // A function without parameters has none at all: Gemini refuses an OBJECT without properties.
                if (tool.Parameters is { } parameters && parameters.TryGetProperty("properties", out var properties)
                    && properties.ValueKind == JsonValueKind.Object && properties.EnumerateObject().Any())
                {
                    declaration["parameters"] = GeminiSchema.Convert(parameters);
                }

                return (JsonNode?)declaration;
            }).ToArray()),
        });

        var config = ToolChoice(request.ToolChoice) switch
        {
            { Mode: "auto" } => new JsonObject { ["mode"] = "AUTO" },
            { Mode: "none" } => new JsonObject { ["mode"] = "NONE" },
            { Mode: "required" } => new JsonObject { ["mode"] = "ANY" },
            { Mode: "function", Name: { } name } => new JsonObject { ["mode"] = "ANY", ["allowedFunctionNames"] = new JsonArray(name) },
            _ => null,
        };
        if (config is not null)
        {
            body["toolConfig"] = new JsonObject { ["functionCallingConfig"] = config };
        }
    }

    private static JsonObject GenerationConfig(ChatCompletionRequest request)
    {
        var config = new JsonObject();
        if (request.Temperature is { } temperature)
        {
            config["temperature"] = temperature;
        }

        if (request.TopP is { } topP)
        {
            config["topP"] = topP;
        }

        if (ExtraNumber(request, "top_k") is { } topK)
        {
            config["topK"] = (int)topK;
        }

        if (MaxTokens(request) is { } maxTokens)
        {
            config["maxOutputTokens"] = maxTokens;
        }

        if (Stops(request.Stop) is { Count: > 0 } stops)
        {
            config["stopSequences"] = new JsonArray(stops.Select(s => (JsonNode?)s).ToArray());
        }

        if (request.Seed is { } seed)
        {
            config["seed"] = seed;
        }

        if (request.N is { } n and > 1)
        {
            config["candidateCount"] = n;
        }

        if (request.PresencePenalty is { } presence)
        {
            config["presencePenalty"] = presence;
        }

        if (request.FrequencyPenalty is { } frequency)
        {
            config["frequencyPenalty"] = frequency;
        }

        switch (ResponseFormat(request.ResponseFormat))
        {
            case { Type: "json_object" }:
                config["responseMimeType"] = "application/json";
                break;
            case { Type: "json_schema" } format:
                config["responseMimeType"] = "application/json";
                if (format.Schema is { } schema)
                {
                    config["responseSchema"] = GeminiSchema.Convert(schema);
                }

                break;
        }

        if (Extra(request, "thinkingConfig") is { } thinking)
        {
            config["thinkingConfig"] = Node(thinking);
        }

        return config;
    }

    private static int? Int(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : null;
}
