namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// How much of a provider's answer AiMesh holds at most: a provider (or a misconfigured endpoint) that
/// sends without end must fail its attempt, not fill the memory every tenant's requests share.
/// </summary>
public sealed class ResponseLimits
{
    public const string Section = "AiMesh:ProviderResponses";

    /// <summary>A whole (non-streaming) answer, chat or embeddings, or an error body.</summary>
    /// <value>Defaults to 128 MiB: above 2,048 embeddings of 3,072 dimensions as JSON floats.</value>
    public long MaxBodyBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>One line of a streamed answer (an SSE line, an NDJSON object).</summary>
    /// <value>Defaults to 8 MiB: a stream chunk holds a few tokens.</value>
    public int MaxStreamLineBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>What is wrong with these limits, or null.</summary>
    public string? Problem() =>
        MaxBodyBytes < 64 * 1024 ? $"{Section}:MaxBodyBytes must be at least 65536."
        : MaxStreamLineBytes < 64 * 1024 ? $"{Section}:MaxStreamLineBytes must be at least 65536."
        : null;
}
