using System.Text.Json;
using System.Text.Json.Serialization;

namespace AiMesh.Contracts;

/// <summary>An OpenAI embeddings request as AiMesh carries it between services; unknown fields are kept in <see cref="Extra"/>.</summary>
public sealed record EmbeddingsRequest
{
    [JsonPropertyName("model")] public string? Model { get; init; }
    /// <summary>A string, an array of strings, an array of token ids, or an array of token id arrays.</summary>
    [JsonPropertyName("input")] public JsonElement? Input { get; init; }
    /// <summary><c>float</c> (default) or <c>base64</c> (little-endian float32).</summary>
    [JsonPropertyName("encoding_format")] public string? EncodingFormat { get; init; }
    [JsonPropertyName("dimensions")] public int? Dimensions { get; init; }
    [JsonPropertyName("user")] public string? User { get; init; }

    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>router → provider-adapter: one embeddings attempt against one deployment (the answer is a <see cref="ProviderChatResult"/>).</summary>
public sealed record ProviderEmbeddingsRequest(
    string DeploymentId,
    string RequestId,
    EmbeddingsRequest Request);
