namespace AiMesh.Validation;

/// <summary>Limits the validation service enforces (section <c>AiMesh:Validation</c>).</summary>
public sealed class ValidationLimits
{
    public const string Section = "AiMesh:Validation";

    /// <value>Defaults to 2,048.</value>
    public int MaxMessages { get; set; } = 2048;

    /// <value>Defaults to 128.</value>
    public int MaxChoices { get; set; } = 128;

    /// <value>Defaults to 1,000,000.</value>
    public int MaxOutputTokens { get; set; } = 1_000_000;

    /// <summary>Image parts in one request, over all messages.</summary>
    /// <value>Defaults to 100.</value>
    public int MaxImages { get; set; } = 100;

    /// <summary>Decoded size of one inline (data URL) image.</summary>
    /// <value>Defaults to 20 MiB.</value>
    public long MaxImageBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>Tools in one request.</summary>
    /// <value>Defaults to 128 (OpenAI's limit).</value>
    public int MaxTools { get; set; } = 128;
}
