using System.Collections.Concurrent;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiMesh.Testing.Fakes;

/// <summary>
/// The common part of the fake providers: a real HTTP server on 127.0.0.1:0, the requests it
/// received, and the faults it injects (<see cref="Fault"/>, queued or standing). Each subclass
/// speaks one provider's wire format, streaming edge cases included: UTF-8 characters split across
/// network writes, keep-alive events, empty deltas, tool-call arguments in fragments, usage last.
/// Answers are a pure function of the request and the fake's settings, so tests can compute what to expect.
/// </summary>
public abstract class FakeProviderServer : IAsyncDisposable
{
    /// <summary>JSON as providers write it: non-ASCII characters as raw UTF-8, not \u escapes.</summary>
    protected static readonly JsonSerializerOptions Raw = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly ConcurrentQueue<Fault> _faults = new();
    private WebApplication? _app;

    /// <summary>The server's root, e.g. <c>http://127.0.0.1:43121</c>: the provider's base URL to configure.</summary>
    public string BaseUrl { get; private set; } = string.Empty;

    /// <summary>The answer text; streamed one word per event. Its non-ASCII characters are split across writes.</summary>
    public string Reply { get; set; } = "Grüße from the fake — naïve café ✓";

    /// <summary>When the request offers tools, the answer calls the first one with these JSON arguments (after the text).</summary>
    public string ToolArguments { get; set; } = "{\"city\":\"Zürich\",\"unit\":\"celsius\"}";

    /// <summary>Output tokens the fake reports.</summary>
    public int CompletionTokens { get; set; } = 23;

    /// <summary>Prompt tokens the fake reports as read from the provider's prompt cache (part of the prompt tokens).</summary>
    public int CachedTokens { get; set; }

    /// <summary>Applied to every request when no queued fault is waiting.</summary>
    public Fault? StandingFault { get; set; }

    public ConcurrentQueue<ReceivedRequest> Received { get; } = new();

    /// <summary>API keys (as sent in the provider's key header, without a Bearer prefix) the fake answers 401 to; set before requests.</summary>
    public ConcurrentDictionary<string, bool> RejectedKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>Prompt tokens the fake reports for a request body: one per eight characters of its JSON, at least one more than the cached ones.</summary>
    public int PromptTokens(JsonNode? body) => Math.Max(CachedTokens + 1, (body?.ToJsonString().Length ?? 0) / 8);

    public void Enqueue(params Fault[] faults)
    {
        ArgumentNullException.ThrowIfNull(faults);
        foreach (var fault in faults)
        {
            _faults.Enqueue(fault);
        }
    }

    protected static async Task<T> StartAsync<T>(T fake, Action<WebApplication> map)
        where T : FakeProviderServer
    {
        ArgumentNullException.ThrowIfNull(fake);
        ArgumentNullException.ThrowIfNull(map);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        fake._app = app;
        fake.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return fake;
    }

    /// <summary>
    /// Records the request and applies its fault. Returns the body and the fault to apply to the answer
    /// (stream faults), or null when the fault already answered (delay past the caller, reset, error status, malformed JSON).
    /// </summary>
    protected async Task<(JsonNode? Body, Fault? Fault)?> BeginAsync(HttpContext context, string authorizationHeader)
    {
        ArgumentNullException.ThrowIfNull(context);
        var body = await JsonNode.ParseAsync(context.Request.Body);
        Received.Enqueue(new ReceivedRequest(context.Request.Path, context.Request.Headers[authorizationHeader].ToString(), body)
        {
            Headers = ReceivedRequest.HeadersOf(context.Request),
            Query = context.Request.QueryString.Value ?? string.Empty,
        });
        var presented = context.Request.Headers[authorizationHeader].ToString();
        if (RejectedKeys.ContainsKey(presented.StartsWith("Bearer ", StringComparison.Ordinal) ? presented["Bearer ".Length..] : presented))
        {
            context.Response.StatusCode = 401;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(ErrorBody(401, "invalid x-api-key").ToJsonString(Raw));
            return null;
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
                return null;
            }
        }

        if (fault?.Reset == true)
        {
            context.Abort();
            return null;
        }

        if (fault?.AnswersWithHeaders(context) == true)
        {
            return null;
        }

        if (fault?.Status is { } status)
        {
            if (fault.RetryAfter is not null)
            {
                context.Response.Headers.RetryAfter = fault.RetryAfter;
            }

            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(ErrorBody(status, fault.ErrorMessage ?? $"Injected failure {status}").ToJsonString(Raw));
            return null;
        }

        if (fault?.MalformedJson == true)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("{\"id\": \"broken\", \"content\": [");
            return null;
        }

        return (body, fault);
    }

    /// <summary>Writes a whole JSON answer.</summary>
    protected static async Task WriteJsonAsync(HttpContext context, JsonNode answer, int status = 200)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(answer);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(answer.ToJsonString(Raw));
    }

    /// <summary>The provider's error body for a status.</summary>
    public abstract JsonNode ErrorBody(int status, string message);

    /// <summary>
    /// Sends one stream event and flushes. When the text holds a multi-byte UTF-8 character, its bytes are
    /// split between two flushes (with a pause, so they travel in separate packets).
    /// </summary>
    protected static async Task WriteEventAsync(HttpContext context, string text)
    {
        ArgumentNullException.ThrowIfNull(context);
        var bytes = Encoding.UTF8.GetBytes(text);
        var lead = Array.FindIndex(bytes, b => b >= 0xC0);
        if (lead < 0)
        {
            await context.Response.Body.WriteAsync(bytes);
            await context.Response.Body.FlushAsync();
            return;
        }

        await context.Response.Body.WriteAsync(bytes.AsMemory(0, lead + 1));
        await context.Response.Body.FlushAsync();
        await Task.Delay(15);
        await context.Response.Body.WriteAsync(bytes.AsMemory(lead + 1));
        await context.Response.Body.FlushAsync();
    }

    /// <summary>Applies the stream faults before event number <paramref name="sent"/>: true when the stream must end here.</summary>
    protected static async Task<bool> StreamFaultAsync(HttpContext context, Fault? fault, int sent, Func<Task> writeError)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(writeError);
        if (fault?.BreakStreamAfterChunks is { } breakAfter && sent == breakAfter)
        {
            await context.Response.Body.FlushAsync();
            // Let the events reach the gateway first: an immediate reset can discard them in flight.
            await Task.Delay(200);
            context.Abort();
            return true;
        }

        if (fault?.StreamErrorAfterChunks is { } errorAfter && sent == errorAfter)
        {
            await writeError();
            return true;
        }

        if (sent > 0 && fault?.ChunkDelay is { } pause)
        {
            await Task.Delay(pause);
        }

        return false;
    }

    /// <summary>The reply as stream pieces: the first word, then each further word with its leading space.</summary>
    protected IReadOnlyList<string> ReplyPieces() =>
        Reply.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select((w, i) => i == 0 ? w : " " + w).ToList();

    /// <summary>The tool arguments in fragments of about eight characters (what providers stream).</summary>
    protected IReadOnlyList<string> ArgumentFragments()
    {
        var fragments = new List<string>();
        for (var at = 0; at < ToolArguments.Length; at += 8)
        {
            fragments.Add(ToolArguments[at..Math.Min(ToolArguments.Length, at + 8)]);
        }

        return fragments;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}
