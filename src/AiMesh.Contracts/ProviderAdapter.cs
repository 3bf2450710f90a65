using System.Text.Json;

namespace AiMesh.Contracts;

/// <summary>A deployment as other services see it: no credentials, no endpoint secrets.</summary>
public sealed record DeploymentInfo(
    string Id,
    string Provider,
    string Model,
    IReadOnlyList<string> Aliases,
    int Priority,
    bool Enabled,
    string BreakerState)
{
    /// <summary>
    /// The price the router reserves budget at before a call: the deployment's own price, or for a
    /// pass-through deployment the highest list price it knows, so a reservation never falls short.
    /// </summary>
    public PriceInfo? ReservationPrice { get; init; }

    /// <summary>What the deployment can do (configured, or the defaults of its provider type).</summary>
    public DeploymentCapabilities? Capabilities { get; init; }

    /// <summary>Share of traffic under the weighted strategy, relative to the other deployments of the alias.</summary>
    public int Weight { get; init; } = 1;

    /// <summary>Names of the deployment's key secrets taken out of rotation after a 401 (never the keys), or null.</summary>
    public IReadOnlyList<string>? DisabledKeys { get; init; }
}

/// <summary>What a deployment's model accepts: image parts, tools, JSON mode, its context window and embeddings.</summary>
public sealed record DeploymentCapabilities(bool Vision, bool Tools, bool JsonMode, int? ContextWindow, bool Embeddings);

/// <summary>USD per million tokens.</summary>
public sealed record PriceInfo(decimal InputPerMillion, decimal OutputPerMillion, decimal CachedInputPerMillion)
{
    public decimal Cost(long inputTokens, long outputTokens) => ((inputTokens * InputPerMillion) + (outputTokens * OutputPerMillion)) / 1_000_000m;
}

/// <summary>router → provider-adapter: one attempt against one deployment.</summary>
public sealed record ProviderChatRequest(
    string DeploymentId,
    string RequestId,
    ChatCompletionRequest Request);

/// <summary>How an attempt failed, from the caller's point of view.</summary>
public enum ProviderFailureKind
{
    None = 0,
    /// <summary>Worth trying another deployment: timeout, connection, 408, 429, 5xx, open breaker.</summary>
    Transient = 1,
    /// <summary>The request itself is at fault (400, 401, 403, 404, 422, content policy): return to the caller.</summary>
    Permanent = 2,
}

/// <summary>The outcome of a non-streaming attempt.</summary>
public sealed record ProviderChatResult
{
    public required string DeploymentId { get; init; }
    public required string Provider { get; init; }
    public required string Model { get; init; }
    public int StatusCode { get; init; }
    public ProviderFailureKind Failure { get; init; }
    /// <summary>The OpenAI-format completion on success.</summary>
    public JsonElement? Response { get; init; }
    public Usage? Usage { get; init; }
    public decimal CostUsd { get; init; }
    public ProviderError? Error { get; init; }
    /// <summary>Seconds the provider asked us to wait (Retry-After), if any.</summary>
    public double? RetryAfterSeconds { get; init; }
}

/// <summary>A provider error with every credential stripped, ready for the caller's dialect.</summary>
public sealed record ProviderError(string Message, string Type, string? Code)
{
    /// <summary>The request field at fault, when known (e.g. <c>messages[1].content[0]</c> for a refused image URL).</summary>
    public string? Param { get; init; }
}

/// <summary>
/// One event of a streamed attempt. The first event either carries <see cref="Failure"/>
/// (nothing was sent yet: the router may fail over) or is a chunk; the last one is
/// <see cref="StreamEventKind.End"/> with usage and cost, or <see cref="StreamEventKind.Error"/>.
/// </summary>
public sealed record ProviderStreamEvent
{
    public required StreamEventKind Kind { get; init; }
    /// <summary>An OpenAI chat.completion.chunk JSON text (Kind = Chunk).</summary>
    public string? Chunk { get; init; }
    /// <summary>The chunk only carries usage (no choices): forwarded only to callers who asked for usage.</summary>
    public bool UsageOnly { get; init; }
    /// <summary>Characters of answer text in the chunk: what a stream that ends without usage is estimated by.</summary>
    public int ContentChars { get; init; }
    public Usage? Usage { get; init; }
    public decimal CostUsd { get; init; }
    public ProviderFailureKind Failure { get; init; }
    public int StatusCode { get; init; }
    public ProviderError? Error { get; init; }
    public string? DeploymentId { get; init; }
    public string? Provider { get; init; }
    public string? Model { get; init; }
}

public enum StreamEventKind
{
    /// <summary>The stream opened: names the deployment.</summary>
    Start = 0,
    Chunk = 1,
    End = 2,
    Error = 3,
}

/// <summary>router and health → provider-adapter.</summary>
public interface IProviderAdapterClient
{
    Task<IReadOnlyList<DeploymentInfo>> GetDeploymentsAsync(CancellationToken cancellationToken);

    Task<ProviderChatResult> ChatAsync(ProviderChatRequest request, CancellationToken cancellationToken);

    IAsyncEnumerable<ProviderStreamEvent> StreamChatAsync(ProviderChatRequest request, CancellationToken cancellationToken);

    /// <summary>One embeddings attempt: <see cref="ProviderChatResult.Response"/> holds OpenAI's embeddings list, usage has prompt tokens only.</summary>
    Task<ProviderChatResult> EmbedAsync(ProviderEmbeddingsRequest request, CancellationToken cancellationToken);
}
