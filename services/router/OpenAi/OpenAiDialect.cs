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

    internal static async Task WriteDataAsync(HttpContext context, byte[] data)
    {
        var body = context.Response.BodyWriter;
        await body.WriteAsync(DataPrefix, context.RequestAborted);
        await body.WriteAsync(data, context.RequestAborted);
        await body.WriteAsync(EventEnd, context.RequestAborted);
    }

    private sealed class StreamWriter(HttpContext context, bool includeUsage) : ISurfaceStreamWriter
    {
        public async Task WriteChunkAsync(string chunk, bool usageOnly)
        {
            if (includeUsage || !usageOnly)
            {
                await WriteDataAsync(context, Encoding.UTF8.GetBytes(chunk));
            }
        }

        public async Task EndAsync(Usage? usage, decimal? costUsd)
        {
            if (costUsd is { } cost)
            {
                // An SSE comment: ignored by SSE parsers, readable by people and tools.
                await context.Response.BodyWriter.WriteAsync(Encoding.UTF8.GetBytes($": x-aimesh-cost-usd={ChatPipeline.FormatCost(cost)}\n\n"), context.RequestAborted);
            }

            await context.Response.BodyWriter.WriteAsync(Done, context.RequestAborted);
        }

        public async Task ErrorAsync(GatewayError failure) =>
            await WriteDataAsync(context, JsonSerializer.SerializeToUtf8Bytes(new OpenAiErrorBody(failure.Error)));
    }
}
