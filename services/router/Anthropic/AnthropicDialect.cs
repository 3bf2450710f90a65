using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;
using AiMesh.Router.OpenAi;
using AiMesh.Router.Pipeline;

namespace AiMesh.Router.Anthropic;

/// <summary>
/// The Anthropic Messages API surface (<c>POST /v1/messages</c>): Anthropic requests in, translated
/// to the internal OpenAI request; OpenAI completions and chunks out, translated into Anthropic's
/// message and its stream events; errors as <c>{"type":"error","error":{"type","message"}}</c>.
/// </summary>
public sealed class AnthropicDialect : ISurfaceDialect
{
    public static readonly AnthropicDialect Instance = new();

    public async Task<(ChatCompletionRequest? Request, GatewayError? Error)> ReadRequestAsync(HttpContext context, long maxBytes)
    {
        var (body, error) = await RequestReader.ReadAsync<JsonObject>(context, maxBytes);
        return error is not null ? (null, error) : AnthropicRequests.Translate(body!);
    }

    public async Task WriteErrorAsync(HttpContext context, GatewayError failure)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(failure);
        if (failure.RetryAfterSeconds is { } seconds)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(seconds)).ToString(CultureInfo.InvariantCulture);
        }

        await TypedResults.Json(ErrorBody(failure), statusCode: failure.Status).ExecuteAsync(context);
    }

    public async Task WriteCompletionAsync(HttpContext context, JsonElement completion)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(ToMessage(completion).ToJsonString(), context.RequestAborted);
    }

    public ISurfaceStreamWriter OpenStream(HttpContext context, ChatCompletionRequest request, int estimatedPromptTokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        // Anthropic reports input tokens in message_start; the provider's count comes at the end, so
        // message_start carries the estimate and message_delta the exact figure.
        return new AnthropicStreamWriter(context, request.Model!, estimatedPromptTokens);
    }

    /// <summary>Anthropic's error type for an HTTP status.</summary>
    public static string ErrorType(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 or 529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    public static JsonObject ErrorBody(GatewayError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return new JsonObject
        {
            ["type"] = "error",
            ["error"] = new JsonObject { ["type"] = ErrorType(error.Status), ["message"] = MessageOf(error) },
        };
    }

    /// <summary>The message, with the key header Anthropic's callers use where the OpenAI surface names its own.</summary>
    private static string MessageOf(GatewayError error) => error.Error.Code == "invalid_api_key"
        ? "Missing or invalid API key. Send it as 'x-api-key: <key>' (or 'Authorization: Bearer <key>')."
        : error.Error.Message;

    /// <summary>An OpenAI chat.completion (first choice) as an Anthropic message.</summary>
    public static JsonObject ToMessage(JsonElement completion)
    {
        var root = JsonNode.Parse(completion.GetRawText())!.AsObject();
        var choice = root["choices"]?.AsArray().FirstOrDefault();
        var message = choice?["message"];
        var content = new JsonArray();
        if (message?["content"] is JsonValue text && text.TryGetValue<string>(out var value) && value.Length > 0)
        {
            content.Add(new JsonObject { ["type"] = "text", ["text"] = value });
        }

        foreach (var call in message?["tool_calls"]?.AsArray() ?? [])
        {
            content.Add(new JsonObject
            {
                ["type"] = "tool_use",
                ["id"] = call?["id"]?.GetValue<string>(),
                ["name"] = call?["function"]?["name"]?.GetValue<string>(),
                ["input"] = ParseInput(call?["function"]?["arguments"]?.GetValue<string>()),
            });
        }

        return new JsonObject
        {
            ["id"] = MessageId(root["id"]?.GetValue<string>()),
            ["type"] = "message",
            ["role"] = "assistant",
            ["model"] = root["model"]?.GetValue<string>(),
            ["content"] = content,
            ["stop_reason"] = StopReason(choice?["finish_reason"]?.GetValue<string>()),
            ["stop_sequence"] = null,
            ["usage"] = Usage(root["usage"]),
        };
    }

    public static string StopReason(string? finishReason) => finishReason switch
    {
        "length" => "max_tokens",
        "tool_calls" or "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    };

    internal static string MessageId(string? openAiId) =>
        openAiId is not null && openAiId.StartsWith("msg_", StringComparison.Ordinal) ? openAiId : "msg_" + (openAiId is null ? Guid.NewGuid().ToString("N") : openAiId.Replace("chatcmpl-", string.Empty, StringComparison.Ordinal));

    internal static JsonObject Usage(JsonNode? usage)
    {
        var cached = usage?["prompt_tokens_details"]?["cached_tokens"]?.GetValue<int>() ?? 0;
        var result = new JsonObject
        {
            ["input_tokens"] = (usage?["prompt_tokens"]?.GetValue<int>() ?? 0) - cached,
            ["output_tokens"] = usage?["completion_tokens"]?.GetValue<int>() ?? 0,
        };
        if (cached > 0)
        {
            result["cache_read_input_tokens"] = cached;
        }

        return result;
    }

    private static JsonNode ParseInput(string? arguments)
    {
        if (string.IsNullOrWhiteSpace(arguments))
        {
            return new JsonObject();
        }

        try
        {
            return JsonNode.Parse(arguments) ?? new JsonObject();
        }
        catch (JsonException)
        {
            // A model that wrote broken JSON: hand it over as it is rather than lose it.
            return new JsonObject { ["_raw"] = arguments };
        }
    }

    /// <summary>
    /// Turns OpenAI chunks into Anthropic's events: message_start and a ping, then per text or tool
    /// call a content block (start, text_delta / input_json_delta, stop), then message_delta with
    /// the stop reason and usage, and message_stop.
    /// </summary>
    private sealed class AnthropicStreamWriter(HttpContext context, string model, int estimatedInputTokens) : ISurfaceStreamWriter
    {
        private readonly Dictionary<int, int> _toolBlocks = [];
        private bool _started;
        private int _blockCount;
        private int? _openBlock;
        private bool _openIsText;
        private string? _finishReason;
        private string? _id;

        public async Task WriteChunkAsync(string chunk, bool usageOnly)
        {
            var root = JsonNode.Parse(chunk)!;
            _id ??= root["id"]?.GetValue<string>();
            await StartAsync();
            if (usageOnly)
            {
                return;
            }

            var choice = root["choices"]?.AsArray().FirstOrDefault(c => (c?["index"]?.GetValue<int>() ?? 0) == 0);
            if (choice is null)
            {
                return;
            }

            var delta = choice["delta"];
            if (delta?["content"] is JsonValue text && text.TryGetValue<string>(out var value) && value.Length > 0)
            {
                if (_openBlock is null || !_openIsText)
                {
                    await OpenBlockAsync(new JsonObject { ["type"] = "text", ["text"] = string.Empty }, isText: true);
                }

                await EventAsync("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = _openBlock, ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = value } });
            }

            foreach (var call in delta?["tool_calls"]?.AsArray() ?? [])
            {
                var toolIndex = call?["index"]?.GetValue<int>() ?? 0;
                if (!_toolBlocks.TryGetValue(toolIndex, out var block))
                {
                    await OpenBlockAsync(new JsonObject
                    {
                        ["type"] = "tool_use",
                        ["id"] = call?["id"]?.GetValue<string>() ?? $"toolu_{Guid.NewGuid():N}",
                        ["name"] = call?["function"]?["name"]?.GetValue<string>(),
                        ["input"] = new JsonObject(),
                    }, isText: false);
                    block = _openBlock!.Value;
                    _toolBlocks[toolIndex] = block;
                }

                var fragment = call?["function"]?["arguments"]?.GetValue<string>();
                if (!string.IsNullOrEmpty(fragment) && block == _openBlock)
                {
                    await EventAsync("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = block, ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = fragment } });
                }
            }

            if (choice["finish_reason"] is JsonValue finish && finish.TryGetValue<string>(out var reason))
            {
                _finishReason = reason;
            }
        }

        public async Task EndAsync(Usage? usage, decimal? costUsd)
        {
            await StartAsync();
            await CloseBlockAsync();
            await EventAsync("message_delta", new JsonObject
            {
                ["type"] = "message_delta",
                ["delta"] = new JsonObject { ["stop_reason"] = StopReason(_finishReason), ["stop_sequence"] = null },
                ["usage"] = new JsonObject { ["input_tokens"] = usage?.PromptTokens ?? 0, ["output_tokens"] = usage?.CompletionTokens ?? 0 },
            });
            if (costUsd is { } cost)
            {
                // An SSE comment, as on the OpenAI surface: ignored by SSE parsers, readable by people and tools.
                OpenAiDialect.WriteCostComment(context, cost);
            }

            await EventAsync("message_stop", new JsonObject { ["type"] = "message_stop" });
        }

        public Task ErrorAsync(GatewayError failure) => EventAsync("error", ErrorBody(failure));

        private async Task StartAsync()
        {
            if (_started)
            {
                return;
            }

            _started = true;
            await EventAsync("message_start", new JsonObject
            {
                ["type"] = "message_start",
                ["message"] = new JsonObject
                {
                    ["id"] = MessageId(_id),
                    ["type"] = "message",
                    ["role"] = "assistant",
                    ["model"] = model,
                    ["content"] = new JsonArray(),
                    ["stop_reason"] = null,
                    ["stop_sequence"] = null,
                    ["usage"] = new JsonObject { ["input_tokens"] = estimatedInputTokens, ["output_tokens"] = 0 },
                },
            });
            await EventAsync("ping", new JsonObject { ["type"] = "ping" });
        }

        private async Task OpenBlockAsync(JsonObject block, bool isText)
        {
            await CloseBlockAsync();
            _openBlock = _blockCount++;
            _openIsText = isText;
            await EventAsync("content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = _openBlock, ["content_block"] = block });
        }

        private async Task CloseBlockAsync()
        {
            if (_openBlock is { } open)
            {
                _openBlock = null;
                await EventAsync("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = open });
            }
        }

        // Into the response's buffer, not flushed: the streaming loop flushes when it has to wait for the provider.
        private Task EventAsync(string name, JsonObject data)
        {
            Encoding.UTF8.GetBytes($"event: {name}\ndata: {data.ToJsonString()}\n\n", context.Response.BodyWriter);
            return Task.CompletedTask;
        }
    }
}
