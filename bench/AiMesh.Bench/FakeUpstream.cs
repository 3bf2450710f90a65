using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AiMesh.Bench;

/// <summary>
/// A fake OpenAI-compatible provider that costs almost no CPU: Kestrel on 127.0.0.1 answering
/// every chat completion with precomputed bytes — one completion, or one SSE stream (role,
/// five content chunks, finish, usage, [DONE]) when the body asks for <c>"stream":true</c>.
/// No routing, no JSON work per request: the body is only drained and searched for that flag.
/// </summary>
public static class FakeUpstream
{
    public const string Model = "gpt-4o-mini";

    /// <summary>The non-streaming answer.</summary>
    public static readonly byte[] Completion = Encoding.UTF8.GetBytes(
        "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"" + Model + "\"," +
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello from the bench upstream.\"},\"finish_reason\":\"stop\"}]," +
        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}}");

    /// <summary>The streamed answer, usage chunk included (AiMesh always asks for it upstream).</summary>
    public static readonly byte[] Stream = Encoding.UTF8.GetBytes(BuildStream());

    private static readonly byte[] Models = Encoding.UTF8.GetBytes(
        "{\"object\":\"list\",\"data\":[{\"id\":\"" + Model + "\",\"object\":\"model\",\"created\":0,\"owned_by\":\"bench\"}]}");

    private static readonly byte[] StreamFlag = "\"stream\":true"u8.ToArray();

    public static async Task<int> RunAsync(string[] args)
    {
        var url = Arguments.Value(args, "--urls") ?? "http://127.0.0.1:0";
        // No configuration files to watch: a watcher on the content root (the directory it was started from,
        // recursively) would take an inotify event for every write AiMesh's SQLite file makes under it.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Limits.MaxConcurrentConnections = null;
            options.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = HttpProtocols.Http1);
        });
        await using var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync();
        foreach (var address in app.Urls)
        {
            Console.WriteLine($"upstream listening on {address}");
        }

        await app.WaitForShutdownAsync();
        return 0;
    }

    private static async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (HttpMethods.IsGet(request.Method))
        {
            await WriteAsync(response, "application/json", Models);
            return;
        }

        if (!request.Path.StartsWithSegments("/v1/chat/completions", StringComparison.Ordinal))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var stream = await DrainAsync(request.BodyReader);
        await WriteAsync(response, stream ? "text/event-stream" : "application/json", stream ? Stream : Completion);
    }

    /// <summary>Reads the whole body; true when it contains <c>"stream":true</c> (AiMesh and the bench send compact JSON).</summary>
    private static async Task<bool> DrainAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            if (result.IsCompleted)
            {
                var found = buffer.IsSingleSegment
                    ? buffer.FirstSpan.IndexOf(StreamFlag) >= 0
                    : buffer.ToArray().AsSpan().IndexOf(StreamFlag) >= 0;
                reader.AdvanceTo(buffer.End);
                return found;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async Task WriteAsync(HttpResponse response, string contentType, byte[] body)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        await response.BodyWriter.WriteAsync(body);
    }

    private static string BuildStream()
    {
        const string Head = "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"" + Model + "\",";
        var events = new List<string>
        {
            Head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}",
        };
        foreach (var word in new[] { "Hello", " from", " the", " bench", " upstream." })
        {
            events.Add(Head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word + "\"},\"finish_reason\":null}]}");
        }

        events.Add(Head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
        events.Add(Head + "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}}");
        events.Add("[DONE]");
        var text = new StringBuilder();
        foreach (var data in events)
        {
            text.Append("data: ").Append(data).Append("\n\n");
        }

        return text.ToString();
    }
}
