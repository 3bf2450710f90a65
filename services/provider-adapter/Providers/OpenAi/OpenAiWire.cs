using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// The OpenAI chat completions wire format (provider types <c>openai</c> and <c>openai-compatible</c>):
/// AiMesh's own format, so the request and the answers pass through as they are.
/// </summary>
public sealed class OpenAiWire : IProviderWire
{
    public WireRequest BuildRequest(DeploymentConfig deployment, ChatCompletionRequest request, bool stream, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var body = Serialize(Upstream(request, deployment.UpstreamModel(request.Model!), stream));
        KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("Authorization", $"Bearer {apiKey}")];
        return new WireRequest(new Uri(deployment.BaseUrl, "chat/completions"), body, headers, stream ? "text/event-stream" : "application/json");
    }

    public WireCompletion ReadCompletion(ReadOnlyMemory<byte> body, WireContext context) => ReadOpenAiCompletion(body);

    public IAsyncEnumerable<WireChunk> ReadStreamAsync(Stream body, WireContext context, CancellationToken cancellationToken) =>
        ReadChunksAsync(body, context, dropChoiceless: false, cancellationToken);

    ProviderError IProviderWire.ReadError(string body, int status, string? apiKey) => ReadError(body, status, apiKey);

    /// <summary>The request as sent upstream: the upstream model, and on a stream always usage (cost and quotas depend on it).</summary>
    public static ChatCompletionRequest Upstream(ChatCompletionRequest request, string model, bool stream)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request with
        {
            Model = model,
            Stream = stream ? true : null,
            // The router drops the usage chunk again when the caller did not ask for it.
            StreamOptions = stream ? new StreamOptions { IncludeUsage = true } : null,
        };
    }

    public static byte[] Serialize(ChatCompletionRequest request) => JsonSerializer.SerializeToUtf8Bytes(request, AiMeshJson.Options);

    /// <summary>An OpenAI completion body as it is, with its usage.</summary>
    public static WireCompletion ReadOpenAiCompletion(ReadOnlyMemory<byte> body)
    {
        var completion = JsonSerializer.Deserialize<JsonElement>(body.Span);
        if (completion.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("The answer is not a JSON object.");
        }

        // Every chat completion has its choices; an object without them is no answer an SDK could read.
        if (!completion.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("The answer has no 'choices' array.");
        }

        return new WireCompletion(completion, ReadUsage(completion));
    }

    /// <summary>
    /// OpenAI server-sent events as they are. <paramref name="dropChoiceless"/> drops chunks with neither
    /// choices nor usage (Azure's prompt_filter_results chunk).
    /// </summary>
    public static async IAsyncEnumerable<WireChunk> ReadChunksAsync(Stream body, WireContext context, bool dropChoiceless, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var finished = false;
        await foreach (var item in SseParser.Create(body).EnumerateAsync(cancellationToken))
        {
            var data = item.Data;
            if (data == "[DONE]")
            {
                yield break;
            }

            if (string.IsNullOrWhiteSpace(data))
            {
                continue;
            }

            using var chunk = JsonDocument.Parse(data);
            var root = chunk.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException("A stream event is not a JSON object.");
            }

            if (!root.TryGetProperty("choices", out _) && root.TryGetProperty("error", out _))
            {
                throw new ProviderStreamException(ReadError(data, 500, context.ApiKey), 500);
            }

            var usage = ReadUsage(root);
            var hasChoices = HasChoices(root);
            finished |= HasFinishReason(root);
            if (dropChoiceless && !hasChoices && usage is null)
            {
                continue;
            }

            yield return new WireChunk(data, UsageOnly: usage is not null && !hasChoices, usage, DeltaLength(root));
        }

        // The body ended without [DONE]: complete only if a choice said it had finished.
        if (!finished)
        {
            throw new IOException("The stream ended before the provider finished its answer.");
        }
    }

    /// <summary>Reads usage (including cached prompt tokens) from a completion or a chunk; null when absent.</summary>
    public static WireUsage? ReadUsage(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var cached = usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object
            ? Int(details, "cached_tokens")
            : 0;
        return new WireUsage(Int(usage, "prompt_tokens"), Int(usage, "completion_tokens"), cached);
    }

    /// <summary>The provider's error in OpenAI's shape, credentials scrubbed; a generic message when the body is not JSON.</summary>
    public static ProviderError ReadError(string body, int status, string? apiKey)
    {
        try
        {
            var node = JsonNode.Parse(body);
            var error = node?["error"];
            var message = error is JsonObject ? error["message"]?.GetValue<string>() : error?.GetValue<string>();
            if (message is not null)
            {
                var type = error is JsonObject ? error["type"]?.ToString() : null;
                var code = error is JsonObject ? error["code"]?.ToString() : null;
                return new ProviderError(CredentialScrubber.Scrub(message, apiKey), type ?? DefaultType(status), code);
            }
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException or FormatException)
        {
            // Not JSON (a proxy's HTML page, say): fall through to the generic message.
        }

        return GenericError(status);
    }

    /// <summary>The message for a body that says nothing usable.</summary>
    public static ProviderError GenericError(int status) => new($"The provider answered HTTP {status}.", DefaultType(status), null);

    public static string DefaultType(int status) => status switch
    {
        400 or 404 or 413 or 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "api_error",
    };

    private static bool HasFinishReason(JsonElement chunk) =>
        chunk.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array
        && choices.EnumerateArray().Any(c => c.ValueKind == JsonValueKind.Object && c.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String);

    private static bool HasChoices(JsonElement chunk) =>
        chunk.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0;

    private static int DeltaLength(JsonElement chunk)
    {
        var length = 0;
        if (chunk.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in choices.EnumerateArray())
            {
                if (choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object
                    && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                {
                    length += content.GetString()!.Length;
                }
            }
        }

        return length;
    }

    private static int Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : 0;
}
