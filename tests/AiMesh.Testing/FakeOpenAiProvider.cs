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
    /// <summary>Answer with this status and an OpenAI error body.</summary>
    public int? Status { get; init; }
    public string? RetryAfter { get; init; }
    public string? ErrorMessage { get; init; }
    /// <summary>Wait this long before answering (a timeout, from the gateway's side).</summary>
    public TimeSpan? Delay { get; init; }
    /// <summary>Abort the connection without an answer.</summary>
    public bool Reset { get; init; }
    /// <summary>Answer 200 with a body that is not JSON.</summary>
    public bool MalformedJson { get; init; }
    /// <summary>On a stream: send this many chunks, then abort the connection.</summary>
    public int? BreakStreamAfterChunks { get; init; }
    /// <summary>On a stream: pause this long between chunks.</summary>
    public TimeSpan? ChunkDelay { get; init; }
}

/// <summary>A request the fake received.</summary>
public sealed record ReceivedRequest(string Path, string? Authorization, JsonNode? Body);

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

    /// <summary>The words the fake answers with (the reply is one stream chunk per word).</summary>
    public string Reply { get; set; } = "Hello from the fake provider.";

    /// <summary>Applied to every request when no queued fault is waiting.</summary>
    public Fault? StandingFault { get; set; }

    public ConcurrentQueue<ReceivedRequest> Received { get; } = new();

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

    private async Task ChatAsync(HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        Received.Enqueue(new ReceivedRequest(context.Request.Path, context.Request.Headers.Authorization.ToString(), body));
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

        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["id"] = "chatcmpl-fake",
            ["object"] = "chat.completion",
            ["created"] = 1_700_000_000,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = Reply, ["refusal"] = null },
                ["logprobs"] = null,
                ["finish_reason"] = "stop",
            }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = CompletionTokens, ["total_tokens"] = prompt + CompletionTokens },
        });
    }

    private async Task StreamAsync(HttpContext context, JsonNode? body, string model, int prompt, Fault? fault)
    {
        context.Response.ContentType = "text/event-stream";
        var includeUsage = body?["stream_options"]?["include_usage"]?.GetValue<bool>() == true;
        var words = Words();
        var chunks = new List<JsonObject> { Chunk(model, new JsonObject { ["role"] = "assistant", ["content"] = string.Empty }, null, includeUsage) };
        chunks.AddRange(words.Select((w, i) => Chunk(model, new JsonObject { ["content"] = i == 0 ? w : " " + w }, null, includeUsage)));
        chunks.Add(Chunk(model, new JsonObject(), "stop", includeUsage));
        var sent = 0;
        foreach (var chunk in chunks)
        {
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
                await Task.Delay(pause);
            }
        }

        if (includeUsage)
        {
            var usage = new JsonObject
            {
                ["id"] = "chatcmpl-fake",
                ["object"] = "chat.completion.chunk",
                ["created"] = 1_700_000_000,
                ["model"] = model,
                ["choices"] = new JsonArray(),
                ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = CompletionTokens, ["total_tokens"] = prompt + CompletionTokens },
            };
            await context.Response.WriteAsync($"data: {usage.ToJsonString()}\n\n");
        }

        await context.Response.WriteAsync("data: [DONE]\n\n");
    }

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
