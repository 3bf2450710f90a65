using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.Router.OpenAi;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// A public API dialect of the chat request path: how a request is read into AiMesh's internal
/// (OpenAI) <see cref="ChatCompletionRequest"/>, and how the answer, the stream and errors are
/// written back. <see cref="ChatPipeline"/> runs every dialect through the same path.
/// </summary>
public interface ISurfaceDialect
{
    /// <summary>Reads and translates the request body; a 4xx when it is not a valid request of this dialect.</summary>
    Task<(ChatCompletionRequest? Request, GatewayError? Error)> ReadRequestAsync(HttpContext context, long maxBytes);

    /// <summary>Writes an error before the answer started (status, retry-after, body in this dialect).</summary>
    Task WriteErrorAsync(HttpContext context, GatewayError failure);

    /// <summary>Writes a whole (OpenAI-format) completion in this dialect.</summary>
    Task WriteCompletionAsync(HttpContext context, JsonElement completion);

    /// <summary>The writer of one streamed answer (the response headers are already set).</summary>
    /// <param name="estimatedPromptTokens">The pipeline's estimate, for dialects that report input tokens before the provider does.</param>
    ISurfaceStreamWriter OpenStream(HttpContext context, ChatCompletionRequest request, int estimatedPromptTokens);
}

/// <summary>Writes one streamed answer: OpenAI chunks in, this dialect's events out.</summary>
public interface ISurfaceStreamWriter
{
    /// <summary>One OpenAI chat.completion.chunk; <paramref name="usageOnly"/>: it carries only usage.</summary>
    Task WriteChunkAsync(string chunk, bool usageOnly);

    /// <summary>The answer is complete; <paramref name="costUsd"/> is null for a cache replay.</summary>
    Task EndAsync(Usage? usage, decimal? costUsd);

    /// <summary>The stream broke after it started: an error event instead of the end.</summary>
    Task ErrorAsync(GatewayError failure);
}
