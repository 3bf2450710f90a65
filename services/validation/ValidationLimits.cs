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
}
