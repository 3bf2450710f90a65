namespace AiMesh.Router;

/// <summary>Router settings (section <c>AiMesh:Router</c>).</summary>
public sealed class RouterOptions
{
    public const string Section = "AiMesh:Router";

    /// <summary>Deployments tried for one request (the first plus failovers).</summary>
    /// <value>Defaults to 3.</value>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>The overall deadline of one request, all attempts and the whole stream included.</summary>
    /// <value>Defaults to 10 minutes.</value>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest request body accepted; larger ones get 413.</summary>
    /// <value>Defaults to 4 MiB.</value>
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Output tokens assumed for the quota reservation when the request sets no max_tokens.</summary>
    /// <value>Defaults to 256.</value>
    public int DefaultEstimatedOutputTokens { get; set; } = 256;
}
