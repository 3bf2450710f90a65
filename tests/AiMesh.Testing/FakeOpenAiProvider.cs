using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiMesh.Testing;

/// <summary>What the fake does with one request instead of answering normally.</summary>
public sealed record Fault
{
    /// <summary>Answer with this status and an error body (in the fake provider's own shape: OpenAI's here).</summary>
    public int? Status { get; init; }
    public string? RetryAfter { get; init; }
    public string? ErrorMessage { get; init; }
    /// <summary>Wait this long before answering (a timeout, from the gateway's side).</summary>
    public TimeSpan? Delay { get; init; }
    /// <summary>Abort the connection without an answer.</summary>
    public bool Reset { get; init; }
    /// <summary>Answer 200 with a body that is not JSON.</summary>
    public bool MalformedJson { get; init; }
    /// <summary>Answer 307 Temporary Redirect to the same path and query at this origin (e.g. another fake's), with an empty body.</summary>
    public string? RedirectTo { get; init; }
    /// <summary>Answer normally, with this Set-Cookie header.</summary>
    public string? SetCookie { get; init; }
    /// <summary>Answer 200 with a valid completion of about this many bytes (its content that long).</summary>
    public int? OversizedBodyBytes { get; init; }
    /// <summary>On a stream: send one line of up to this many bytes that never ends (no line feed), in flushed pieces, then close.</summary>
    public int? UnendedStreamLineBytes { get; init; }
    /// <summary>Start a (non-streaming) answer with a UTF-8 byte order mark, as some servers do.</summary>
    public bool Utf8ByteOrderMark { get; init; }
    /// <summary>On a stream: send this many chunks, then abort the connection.</summary>
    public int? BreakStreamAfterChunks { get; init; }
    /// <summary>On a stream: pause this long between chunks.</summary>
    public TimeSpan? ChunkDelay { get; init; }
    /// <summary>On a stream: send this many events, then the provider's own error event (and end the body).</summary>
    public int? StreamErrorAfterChunks { get; init; }
    /// <summary>On a stream: send it whole in one write, as a provider that buffers its answer does.</summary>
    public bool WholeStream { get; init; }

    /// <summary>Applies <see cref="SetCookie"/> and <see cref="RedirectTo"/>: true when the redirect answered the request.</summary>
    public bool AnswersWithHeaders(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (SetCookie is not null)
        {
            context.Response.Headers.SetCookie = SetCookie;
        }

        if (RedirectTo is null)
        {
            return false;
        }

        context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
        context.Response.Headers.Location = new Uri(new Uri(RedirectTo), context.Request.Path + context.Request.QueryString).ToString();
        return true;
    }
}

/// <summary>A request the fake received.</summary>
public sealed record ReceivedRequest(string Path, string? Authorization, JsonNode? Body)
{
    /// <summary>Every request header (its first value), by name, case-insensitively.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The query string, e.g. <c>?api-version=2024-10-21</c> (empty when none).</summary>
    public string Query { get; init; } = string.Empty;

    /// <summary>A header's value, or null.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public static IReadOnlyDictionary<string, string> HeadersOf(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
    }
}

/// <summary>
/// A fake OpenAI-compatible provider: a real HTTP server on 127.0.0.1 speaking OpenAI's chat
/// completions wire format, streaming included, that can inject faults per request.
/// Its answers are a pure function of the request, so tests can compute what to expect.
/// </summary>
public sealed class FakeOpenAiProvider : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Fault> _faults = new();

    private FakeOpenAiProvider(WebApplication app, string url)
    {
        _app = app;
        BaseUrl = url;
    }

    /// <summary>The base URL to configure, e.g. <c>http://127.0.0.1:43121/v1</c>.</summary>
    public string BaseUrl { get; }

    /// <summary>The server's root, e.g. <c>http://127.0.0.1:43121</c>: an Azure OpenAI resource endpoint
    /// (<c>/openai/deployments/{deployment}/chat/completions</c> and <c>/openai/v1/chat/completions</c>).</summary>
    public string Endpoint => BaseUrl[..^"/v1".Length];

    /// <summary>
    /// When set and the request offers tools, the answer calls the first tool with these JSON arguments
    /// (streamed in fragments) after the reply text. Off by default.
    /// </summary>
    public string? ToolCallArguments { get; set; }

    /// <summary>The words the fake answers with (the reply is one stream chunk per word).</summary>
    public string Reply { get; set; } = "Hello from the fake provider.";

    private long _unendedLineBytesSent;
    private int _abandonedStreams;

    /// <summary>Streams (with <see cref="Fault.ChunkDelay"/>) the gateway hung up on before their end.</summary>
    public int AbandonedStreams => Volatile.Read(ref _abandonedStreams);

    /// <summary>Bytes of <see cref="Fault.UnendedStreamLineBytes"/> lines written so far.</summary>
    public long UnendedLineBytesSent => Interlocked.Read(ref _unendedLineBytesSent);

    /// <summary>Applied to every request when no queued fault is waiting.</summary>
    public Fault? StandingFault { get; set; }

    public ConcurrentQueue<ReceivedRequest> Received { get; } = new();

    /// <summary>API keys the fake answers 401 <c>invalid_api_key</c> to (Bearer or api-key header); set before requests.</summary>
    public ConcurrentDictionary<string, bool> RejectedKeys { get; } = new(StringComparer.Ordinal);

    private bool Rejects(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        var key = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : request.Headers["api-key"].ToString();
        return RejectedKeys.ContainsKey(key);
    }

    private static Task RejectAsync(HttpContext context)
    {
        context.Response.StatusCode = 401;
        return context.Response.WriteAsJsonAsync(new { error = new { message = "Incorrect API key provided.", type = "invalid_request_error", param = (string?)null, code = "invalid_api_key" } });
    }

    /// <summary>Replaces <see cref="PromptTokens"/> when set: a provider whose tokenizer counts differently.</summary>
    public Func<JsonNode?, int>? PromptTokenCounter { get; set; }

    public static async Task<FakeOpenAiProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        FakeOpenAiProvider? fake = null;
        app.MapPost("/v1/chat/completions", (HttpContext context) => fake!.ChatAsync(context));
        // Azure OpenAI's URLs (the key comes in the api-key header).
        app.MapPost("/openai/deployments/{deployment}/chat/completions", (HttpContext context) => fake!.ChatAsync(context));
        app.MapPost("/openai/v1/chat/completions", (HttpContext context) => fake!.ChatAsync(context));
        app.MapPost("/v1/embeddings", (HttpContext context) => fake!.EmbedAsync(context));
        app.MapPost("/openai/deployments/{deployment}/embeddings", (HttpContext context) => fake!.EmbedAsync(context));
        app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { new { id = "gpt-4o-mini", @object = "model", created = 0, owned_by = "fake" } } }));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake = new FakeOpenAiProvider(app, address + "/v1");
        return fake;
    }

    public void Enqueue(params Fault[] faults)
    {
        foreach (var fault in faults)
        {
            _faults.Enqueue(fault);
        }
    }

    /// <summary>Prompt tokens the fake reports: one per four characters of message text, at least one.</summary>
    public static int PromptTokens(JsonNode? body)
    {
        var chars = body?["messages"]?.AsArray().Sum(m => m?["content"] is JsonValue v && v.TryGetValue<string>(out var s) ? s.Length : 0) ?? 0;
        return Math.Max(1, chars / 4);
    }

    public int CompletionTokens => Words().Length;

    private string[] Words() => Reply.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>OpenAI's embeddings endpoint: a deterministic vector per input string (floats or base64), usage in prompt tokens.</summary>
    private async Task EmbedAsync(HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        Received.Enqueue(new ReceivedRequest(context.Request.Path, context.Request.Headers.Authorization.ToString(), body)
        {
            Headers = ReceivedRequest.HeadersOf(context.Request),
            Query = context.Request.QueryString.Value ?? string.Empty,
        });
        if (Rejects(context.Request))
        {
            await RejectAsync(context);
            return;
        }

        var fault = _faults.TryDequeue(out var queued) ? queued : StandingFault;
        if (fault?.AnswersWithHeaders(context) == true)
        {
            return;
        }

        if (fault?.Status is { } status)
        {
            context.Response.StatusCode = status;
            await context.Response.WriteAsJsonAsync(new { error = new { message = fault.ErrorMessage ?? $"Injected failure {status}", type = status >= 500 ? "server_error" : "invalid_request_error", param = (string?)null, code = (string?)null } });
            return;
        }

        var inputs = body?["input"] switch
        {
            JsonArray many => many.Select(i => i is JsonValue v && v.TryGetValue<string>(out var text) ? text : i!.ToJsonString()).ToList(),
            var one => [one!.GetValue<string>()],
        };
        var base64 = body?["encoding_format"]?.GetValue<string>() == "base64";
        var dimensions = body?["dimensions"]?.GetValue<int>();
        var tokens = inputs.Sum(Fakes.FakeEmbeddings.Tokens);
        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(inputs.Select((text, i) =>
            {
                var vector = Fakes.FakeEmbeddings.Vector(text, dimensions);
                return (JsonNode)new JsonObject
                {
                    ["object"] = "embedding",
                    ["index"] = i,
                    ["embedding"] = base64 ? JsonValue.Create(Fakes.FakeEmbeddings.Base64(vector)) : new JsonArray(vector.Select(f => (JsonNode)JsonValue.Create(f)).ToArray()),
                };
            }).ToArray()),
            ["model"] = body?["model"]?.GetValue<string>(),
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        });
    }

    private async Task ChatAsync(HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        Received.Enqueue(new ReceivedRequest(context.Request.Path, context.Request.Headers.Authorization.ToString(), body)
        {
            Headers = ReceivedRequest.HeadersOf(context.Request),
            Query = context.Request.QueryString.Value ?? string.Empty,
        });
        if (Rejects(context.Request))
        {
            await RejectAsync(context);
            return;
        }

        var fault = _faults.TryDequeue(out var queued) ? queued : StandingFault;
        if (fault?.Delay is { } delay)
        {
            try
            {
                await Task.Delay(delay, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        if (fault?.Reset == true)
        {
            context.Abort();
            return;
        }

        if (fault?.AnswersWithHeaders(context) == true)
        {
            return;
        }

        if (fault?.Status is { } status)
        {
            if (fault.RetryAfter is not null)
            {
                context.Response.Headers.RetryAfter = fault.RetryAfter;
            }

            context.Response.StatusCode = status;
            await context.Response.WriteAsJsonAsync(new
            {
                error = new { message = fault.ErrorMessage ?? $"Injected failure {status}", type = status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error", param = (string?)null, code = (string?)null },
            });
            return;
        }

        if (fault?.OversizedBodyBytes is { } size)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(
                "{\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0," +
                $"\"message\":{{\"role\":\"assistant\",\"content\":\"{new string('x', size)}\"}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}}}");
            return;
        }

        if (fault?.MalformedJson == true)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("{\"id\": \"chatcmpl-broken\", \"choices\": [");
            return;
        }

        var model = body?["model"]?.GetValue<string>() ?? "unknown";
        var prompt = PromptTokenCounter?.Invoke(body) ?? PromptTokens(body);
        if (body?["stream"]?.GetValue<bool>() == true)
        {
            await StreamAsync(context, body, model, prompt, fault);
            return;
        }

        var message = new JsonObject { ["role"] = "assistant", ["content"] = Reply, ["refusal"] = null };
        var tool = CalledTool(body);
        if (tool is not null)
        {
            message["tool_calls"] = new JsonArray(new JsonObject
            {
                ["id"] = FakeToolCallId,
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = tool, ["arguments"] = ToolCallArguments },
            });
        }

        var answer = new JsonObject
        {
            ["id"] = "chatcmpl-fake",
            ["object"] = "chat.completion",
            ["created"] = 1_700_000_000,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = message,
                ["logprobs"] = null,
                ["finish_reason"] = tool is null ? "stop" : "tool_calls",
            }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = CompletionTokens, ["total_tokens"] = prompt + CompletionTokens },
        };
        if (fault?.Utf8ByteOrderMark == true)
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.Body.WriteAsync(Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(answer.ToJsonString())).ToArray());
            return;
        }

        await context.Response.WriteAsJsonAsync(answer);
    }

    private async Task StreamAsync(HttpContext context, JsonNode? body, string model, int prompt, Fault? fault)
    {
        context.Response.ContentType = "text/event-stream";
        if (fault?.UnendedStreamLineBytes is { } length)
        {
            // In flushed pieces, counting what went out before the client gave up on the line.
            var piece = Encoding.ASCII.GetBytes(new string('x', 16 * 1024));
            try
            {
                await context.Response.WriteAsync("data: ", context.RequestAborted);
                // Kestrel discards writes to a connection the client closed without failing them, and signals the
                // abort a moment later: a millisecond between pieces (16 MB/s) keeps the count close to what went out.
                for (var written = 0L; written < length && !context.RequestAborted.IsCancellationRequested; written += piece.Length)
                {
                    await context.Response.Body.WriteAsync(piece, context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    Interlocked.Add(ref _unendedLineBytesSent, piece.Length);
                    await Task.Delay(1, context.RequestAborted);
                }
            }
            catch (Exception exception) when (exception is OperationCanceledException or IOException or InvalidOperationException)
            {
                // The gateway hung up.
            }

            return;
        }

        var includeUsage = body?["stream_options"]?["include_usage"]?.GetValue<bool>() == true;
        var words = Words();
        var chunks = new List<JsonObject>();
        if (context.Request.Path.StartsWithSegments("/openai", StringComparison.Ordinal))
        {
            // Azure sends its prompt filter results first, in a chunk without choices.
            chunks.Add(new JsonObject
            {
                ["id"] = string.Empty,
                ["object"] = string.Empty,
                ["created"] = 0,
                ["model"] = string.Empty,
                ["choices"] = new JsonArray(),
                ["prompt_filter_results"] = new JsonArray(new JsonObject { ["prompt_index"] = 0, ["content_filter_results"] = new JsonObject() }),
            });
        }

        chunks.Add(Chunk(model, new JsonObject { ["role"] = "assistant", ["content"] = string.Empty }, null, includeUsage));
        chunks.AddRange(words.Select((w, i) => Chunk(model, new JsonObject { ["content"] = i == 0 ? w : " " + w }, null, includeUsage)));
        var tool = CalledTool(body);
        if (tool is not null)
        {
            var arguments = ToolCallArguments!;
            chunks.Add(Chunk(model, new JsonObject
            {
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["id"] = FakeToolCallId,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = tool, ["arguments"] = string.Empty },
                }),
            }, null, includeUsage));
            for (var at = 0; at < arguments.Length; at += 8)
            {
                chunks.Add(Chunk(model, new JsonObject
                {
                    ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = 0, ["function"] = new JsonObject { ["arguments"] = arguments[at..Math.Min(arguments.Length, at + 8)] } }),
                }, null, includeUsage));
            }
        }

        chunks.Add(Chunk(model, new JsonObject(), tool is null ? "stop" : "tool_calls", includeUsage));
        if (fault?.WholeStream == true)
        {
            var whole = string.Concat(chunks.Select(c => $"data: {c.ToJsonString()}\n\n"));
            await context.Response.WriteAsync(whole + (includeUsage ? $"data: {UsageChunk(model, prompt).ToJsonString()}\n\n" : string.Empty) + "data: [DONE]\n\n");
            return;
        }

        var sent = 0;
        foreach (var chunk in chunks)
        {
            if (fault?.StreamErrorAfterChunks is { } errorAfter && sent == errorAfter)
            {
                // OpenAI reports a failure inside a stream as an event with an error object.
                await context.Response.WriteAsync("data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
                return;
            }

            if (fault?.BreakStreamAfterChunks is { } breakAfter && sent == breakAfter)
            {
                await context.Response.Body.FlushAsync();
                // Let the chunks reach the gateway first: an immediate reset can discard them in flight.
                await Task.Delay(200);
                context.Abort();
                return;
            }

            await context.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n");
            await context.Response.Body.FlushAsync();
            sent++;
            if (fault?.ChunkDelay is { } pause)
            {
                try
                {
                    await Task.Delay(pause, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The gateway hung up mid-stream.
                    Interlocked.Increment(ref _abandonedStreams);
                    return;
                }
            }
        }

        if (includeUsage)
        {
            await context.Response.WriteAsync($"data: {UsageChunk(model, prompt).ToJsonString()}\n\n");
        }

        await context.Response.WriteAsync("data: [DONE]\n\n");
    }

    private JsonObject UsageChunk(string model, int prompt) => new()
    {
        ["id"] = "chatcmpl-fake",
        ["object"] = "chat.completion.chunk",
        ["created"] = 1_700_000_000,
        ["model"] = model,
        ["choices"] = new JsonArray(),
        ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = CompletionTokens, ["total_tokens"] = prompt + CompletionTokens },
    };

    /// <summary>The id of the tool call the fake makes when <see cref="ToolCallArguments"/> is set.</summary>
    public const string FakeToolCallId = "call_fake_0001";

    /// <summary>The tool the answer calls: the first one offered, when <see cref="ToolCallArguments"/> is set and the caller allows tools.</summary>
    private string? CalledTool(JsonNode? body) =>
        ToolCallArguments is not null && body?["tools"] is JsonArray { Count: > 0 } tools && body["tool_choice"]?.ToString() != "none"
            ? tools[0]?["function"]?["name"]?.GetValue<string>()
            : null;

    private static JsonObject Chunk(string model, JsonObject delta, string? finish, bool includeUsage)
    {
        var chunk = new JsonObject
        {
            ["id"] = "chatcmpl-fake",
            ["object"] = "chat.completion.chunk",
            ["created"] = 1_700_000_000,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish }),
        };
        if (includeUsage)
        {
            chunk["usage"] = null;
        }

        return chunk;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
