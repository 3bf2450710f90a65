using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>The OpenAI chat completions wire format (also spoken by every OpenAI-compatible server).</summary>
public static class OpenAiWire
{
    public static HttpRequestMessage BuildChatRequest(DeploymentConfig deployment, ChatCompletionRequest request, bool stream, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var upstream = request with
        {
            Model = deployment.UpstreamModel(request.Model!),
            Stream = stream ? true : null,
            // Always ask for usage on streams: cost and quotas depend on it. The router drops
            // the usage chunk again when the caller did not ask for it.
            StreamOptions = stream ? new StreamOptions { IncludeUsage = true } : null,
        };
        var message = new HttpRequestMessage(HttpMethod.Post, new Uri(deployment.BaseUrl, "chat/completions"))
        {
            Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(upstream, AiMeshJson.Options)),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (apiKey is not null)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        if (stream)
        {
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        }

        return message;
    }

    /// <summary>Reads usage (including cached prompt tokens) from a completion or a chunk; null when absent.</summary>
    public static (Usage Usage, int CachedTokens)? ReadUsage(JsonElement root)
    {
        if (!root.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var prompt = Int(usage, "prompt_tokens");
        var completion = Int(usage, "completion_tokens");
        var cached = usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object
            ? Int(details, "cached_tokens")
            : 0;
        var total = usage.TryGetProperty("total_tokens", out _) ? Int(usage, "total_tokens") : prompt + completion;
        return (new Usage { PromptTokens = prompt, CompletionTokens = completion, TotalTokens = total }, cached);
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

        return new ProviderError($"The provider answered HTTP {status}.", DefaultType(status), null);
    }

    public static string DefaultType(int status) => status switch
    {
        400 or 404 or 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "api_error",
    };

    private static int Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : 0;
}
