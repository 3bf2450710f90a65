using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// Embeddings on each provider's wire: OpenAI, OpenAI-compatible and Azure OpenAI take OpenAI's request as it
/// is (<c>/embeddings</c>); Gemini <c>:batchEmbedContents</c>; Ollama <c>/api/embed</c>. Answers become OpenAI's
/// <c>{"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}</c>, with
/// <c>encoding_format: base64</c> honoured (little-endian float32) whichever provider answered.
/// </summary>
public static class EmbeddingWire
{
    public static WireRequest BuildRequest(DeploymentConfig deployment, EmbeddingsRequest request, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var model = deployment.UpstreamModel(request.Model!);
        switch (deployment.Provider)
        {
            case ProviderTypes.Gemini:
            {
                var path = GeminiWire.ModelPath(model);
                var versioned = deployment.BaseUrl.AbsolutePath.EndsWith("/v1beta/", StringComparison.Ordinal) || deployment.BaseUrl.AbsolutePath.EndsWith("/v1/", StringComparison.Ordinal);
                var requests = new JsonArray(Texts(request).Select(text =>
                {
                    var item = new JsonObject { ["model"] = path, ["content"] = new JsonObject { ["parts"] = new JsonArray(new JsonObject { ["text"] = text }) } };
                    if (request.Dimensions is { } dimensions)
                    {
                        item["outputDimensionality"] = dimensions;
                    }

                    return (JsonNode)item;
                }).ToArray());
                KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("x-goog-api-key", apiKey)];
                var relative = path + ":batchEmbedContents";
                return new WireRequest(new Uri(deployment.BaseUrl, versioned ? relative : "v1beta/" + relative), Utf8(new JsonObject { ["requests"] = requests }), headers, "application/json");
            }

            case ProviderTypes.Ollama:
            {
                var body = new JsonObject { ["model"] = model, ["input"] = new JsonArray(Texts(request).Select(t => (JsonNode)JsonValue.Create(t)!).ToArray()) };
                if (request.Dimensions is { } dimensions)
                {
                    body["dimensions"] = dimensions;
                }

                KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("Authorization", $"Bearer {apiKey}")];
                var uri = new Uri(deployment.BaseUrl, deployment.BaseUrl.AbsolutePath.EndsWith("/api/", StringComparison.Ordinal) ? "embed" : "api/embed");
                return new WireRequest(uri, Utf8(body), headers, "application/json");
            }

            case ProviderTypes.AzureOpenAi:
            {
                var azureDeployment = deployment.UpstreamDeployment(request.Model!);
                var v1 = deployment.ApiVersion == "v1";
                var relative = v1
                    ? "v1/embeddings"
                    : $"deployments/{Uri.EscapeDataString(azureDeployment)}/embeddings?api-version={Uri.EscapeDataString(deployment.ApiVersion)}";
                var uri = new Uri(deployment.BaseUrl, deployment.BaseUrl.AbsolutePath.EndsWith("/openai/", StringComparison.OrdinalIgnoreCase) ? relative : "openai/" + relative);
                KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("api-key", apiKey)];
                return new WireRequest(uri, JsonSerializer.SerializeToUtf8Bytes(request with { Model = v1 ? azureDeployment : model }, AiMeshJson.Options), headers, "application/json");
            }

            case ProviderTypes.OpenAi or ProviderTypes.OpenAiCompatible:
            {
                KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("Authorization", $"Bearer {apiKey}")];
                return new WireRequest(new Uri(deployment.BaseUrl, "embeddings"), JsonSerializer.SerializeToUtf8Bytes(request with { Model = model }, AiMeshJson.Options), headers, "application/json");
            }

            default:
                throw new UnsupportedRequestException($"Provider type '{deployment.Provider}' does not serve embeddings.", "model");
        }
    }

    /// <summary>The provider's answer as OpenAI's embeddings list, and its prompt tokens (estimated when the provider reports none).</summary>
    /// <exception cref="JsonException">The body is not a well-formed answer of this provider.</exception>
    public static (JsonElement Response, int PromptTokens) ReadResponse(DeploymentConfig deployment, EmbeddingsRequest request, string body)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var root = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("The embeddings answer is not a JSON object.");
        var model = deployment.UpstreamModel(request.Model!);
        List<float[]> vectors;
        int? promptTokens;
        switch (deployment.Provider)
        {
            case ProviderTypes.Gemini:
                vectors = (root["embeddings"] as JsonArray ?? throw new JsonException("Gemini's answer has no embeddings."))
                    .Select(e => Floats(e?["values"])).ToList();
                promptTokens = null;
                break;
            case ProviderTypes.Ollama:
                vectors = (root["embeddings"] as JsonArray ?? throw new JsonException("Ollama's answer has no embeddings."))
                    .Select(Floats).ToList();
                promptTokens = root["prompt_eval_count"]?.GetValue<int>();
                break;
            default:
                // OpenAI's own shape: passed on as the provider wrote it (base64 included).
                if (root["data"] is not JsonArray)
                {
                    throw new JsonException("The embeddings answer has no data.");
                }

                var prompt = root["usage"]?["prompt_tokens"]?.GetValue<int>() ?? EstimateTokens(request);
                return (JsonSerializer.SerializeToElement(root), prompt);
        }

        var tokens = promptTokens ?? EstimateTokens(request);
        var base64 = string.Equals(request.EncodingFormat, "base64", StringComparison.Ordinal);
        var answer = new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(vectors.Select((v, i) => (JsonNode)new JsonObject
            {
                ["object"] = "embedding",
                ["index"] = i,
                ["embedding"] = base64 ? JsonValue.Create(Base64(v)) : new JsonArray(v.Select(f => (JsonNode)JsonValue.Create(f)).ToArray()),
            }).ToArray()),
            ["model"] = model,
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        };
        return (JsonSerializer.SerializeToElement(answer), tokens);
    }

    /// <summary>The input as texts: Gemini and Ollama take no token ids.</summary>
    public static IReadOnlyList<string> Texts(EmbeddingsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Input switch
        {
            { ValueKind: JsonValueKind.String } single => [single.GetString()!],
            { ValueKind: JsonValueKind.Array } many when many.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) =>
                many.EnumerateArray().Select(e => e.GetString()!).ToList(),
            _ => throw new UnsupportedRequestException("This provider embeds text only, not token ids.", "input"),
        };
    }

    /// <summary>About four characters a token (or one per token id), at least one per input.</summary>
    public static int EstimateTokens(EmbeddingsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Input is not { } input)
        {
            return 0;
        }

        static int Of(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.String => Math.Max(1, (e.GetString()!.Length + 3) / 4),
            JsonValueKind.Number => 1,
            JsonValueKind.Array => e.EnumerateArray().Sum(Of),
            _ => 0,
        };

        return Of(input);
    }

    private static float[] Floats(JsonNode? values) =>
        (values as JsonArray ?? throw new JsonException("An embedding is not an array of numbers.")).Select(v => v!.GetValue<float>()).ToArray();

    private static string Base64(float[] vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        }

        return Convert.ToBase64String(bytes);
    }

    private static byte[] Utf8(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString(AiMeshJson.Options));
}
