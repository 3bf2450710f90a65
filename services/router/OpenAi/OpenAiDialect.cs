using System.Buffers;
using System.Text;
using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.Router.Pipeline;

namespace AiMesh.Router.OpenAi;

/// <summary>The OpenAI chat completions surface: requests, answers and SSE chunks pass as they are.</summary>
public sealed class OpenAiDialect : ISurfaceDialect
{
    public static readonly OpenAiDialect Instance = new();

    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public Task<(ChatCompletionRequest? Request, GatewayError? Error)> ReadRequestAsync(HttpContext context, long maxBytes) =>
        RequestReader.ReadAsync<ChatCompletionRequest>(context, maxBytes);

    public async Task WriteErrorAsync(HttpContext context, GatewayError failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        await failure.ToResult(context).ExecuteAsync(context);
    }

    public async Task WriteCompletionAsync(HttpContext context, JsonElement completion)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.BodyWriter);
        completion.WriteTo(writer);
    }

    public ISurfaceStreamWriter OpenStream(HttpContext context, ChatCompletionRequest request, int estimatedPromptTokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new StreamWriter(context, request.StreamOptions?.IncludeUsage == true);
    }

    /// <summary>
    /// One SSE data event into the response's buffer, not flushed: the streaming loop flushes when it
    /// has to wait for the provider, so chunks that arrive together leave in one write.
    /// </summary>
    internal static void WriteData(HttpContext context, ReadOnlySpan<byte> data)
    {
        var body = context.Response.BodyWriter;
        body.Write(DataPrefix);
        body.Write(data);
        body.Write(EventEnd);
    }

    /// <summary>The request's cost as an SSE comment: ignored by SSE parsers, readable by people and tools (both surfaces).</summary>
    internal static void WriteCostComment(HttpContext context, decimal cost) =>
        Encoding.UTF8.GetBytes($": x-aimesh-cost-usd={ChatPipeline.FormatCost(cost)}\n\n", context.Response.BodyWriter);

    internal static void WriteData(HttpContext context, string data)
    {
        var body = context.Response.BodyWriter;
        body.Write(DataPrefix);
        Encoding.UTF8.GetBytes(data, body);
        body.Write(EventEnd);
    }

    private sealed class StreamWriter(HttpContext context, bool includeUsage) : ISurfaceStreamWriter
    {
        public Task WriteChunkAsync(string chunk, bool usageOnly)
        {
            if (includeUsage || !usageOnly)
            {
                WriteData(context, chunk);
            }

            return Task.CompletedTask;
        }

        public Task EndAsync(Usage? usage, decimal? costUsd)
        {
            if (costUsd is { } cost)
            {
                // An SSE comment: ignored by SSE parsers, readable by people and tools.
                WriteCostComment(context, cost);
            }

            context.Response.BodyWriter.Write(Done);
            return Task.CompletedTask;
        }

        public Task ErrorAsync(GatewayError failure)
        {
            WriteData(context, JsonSerializer.SerializeToUtf8Bytes(new OpenAiErrorBody(failure.Error)));
            return Task.CompletedTask;
        }
    }
}
