namespace AiMesh.Contracts;

/// <summary>The validation service's answer: the normalised request, or what is wrong with it.</summary>
/// <param name="Content">What prompt screening and PII redaction found (null when both are off).</param>
public sealed record ValidationVerdict(
    bool IsValid,
    ChatCompletionRequest? Normalised,
    IReadOnlyList<ValidationIssue> Issues,
    ContentFindings? Content = null);

/// <summary>One problem with a request; <paramref name="Param"/> is the JSON path of the offending field.</summary>
/// <param name="Code">A machine-readable code for the caller (e.g. <c>content_policy_violation</c>), or null.</param>
public sealed record ValidationIssue(string Param, string Message, string? Code = null);

/// <summary>
/// A tenant's content policy: prompt screening (<c>off</c>, <c>flag</c>, <c>block</c>), PII redaction
/// (<c>off</c>, <c>redact</c>, <c>block</c>), and whether prompts and completions may be logged.
/// </summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record ContentPolicy
{
    public const string Off = "off";
    public const string Flag = "flag";
    public const string Block = "block";
    public const string Redact = "redact";

    public static readonly IReadOnlySet<string> ScreeningModes = new HashSet<string>(StringComparer.Ordinal) { Off, Flag, Block };
    public static readonly IReadOnlySet<string> PiiModes = new HashSet<string>(StringComparer.Ordinal) { Off, Redact, Block };

    /// <value>Defaults to <c>flag</c>: suspicious prompts are recorded, not refused.</value>
    public string Screening { get; init; } = Flag;

    /// <value>Defaults to <c>off</c>: prompts reach the provider as sent.</value>
    public string Pii { get; init; } = Off;

    /// <summary>Opt-in: log prompts (after redaction) and completions. Off by default.</summary>
    public bool LogPrompts { get; init; }

    /// <summary>What is wrong with this policy, or null when it is valid.</summary>
    public string? Problem() =>
        !ScreeningModes.Contains(Screening ?? "") ? $"'screening' must be one of: {string.Join(", ", ScreeningModes)}."
        : !PiiModes.Contains(Pii ?? "") ? $"'pii' must be one of: {string.Join(", ", PiiModes)}."
        : null;
}

/// <summary>
/// The verdict of prompt screening and PII redaction. Only names and counts are recorded, never
/// the matched text.
/// </summary>
public sealed record ContentFindings
{
    public const string Clean = "clean";
    public const string Flagged = "flagged";
    public const string Blocked = "blocked";
    public const string Redacted = "redacted";
    public const string NotChecked = "off";

    /// <summary><c>off</c>, <c>clean</c>, <c>flagged</c> or <c>blocked</c>.</summary>
    public string Screening { get; init; } = NotChecked;

    /// <summary>The screening rules that matched (e.g. <c>ignore-instructions</c>, <c>special-token</c>).</summary>
    public IReadOnlyList<string> Signals { get; init; } = [];

    /// <summary><c>off</c>, <c>clean</c>, <c>redacted</c> or <c>blocked</c>.</summary>
    public string Pii { get; init; } = NotChecked;

    /// <summary>How many values of each kind were found (redacted, or the reason for a block).</summary>
    public IReadOnlyDictionary<string, int> Redactions { get; init; } = new Dictionary<string, int>();
}

/// <summary>The body of router → validation: the request and the tenant's content policy.</summary>
public sealed record ChatValidationRequest(ChatCompletionRequest Request, ContentPolicy Policy);

/// <summary>The body of router → validation for embeddings.</summary>
public sealed record EmbeddingsValidationRequest(EmbeddingsRequest Request, ContentPolicy Policy);

/// <summary>The validation service's answer for embeddings: the request as the provider gets it (redacted), or why not.</summary>
public sealed record EmbeddingsVerdict(
    bool IsValid,
    EmbeddingsRequest? Normalised,
    IReadOnlyList<ValidationIssue> Issues,
    ContentFindings? Content = null);

/// <summary>router → validation.</summary>
public interface IValidationClient
{
    Task<ValidationVerdict> ValidateChatAsync(ChatCompletionRequest request, ContentPolicy policy, CancellationToken cancellationToken);

    /// <summary>Applies the PII part of the policy to embeddings input texts (screening is for prompts a model follows).</summary>
    Task<EmbeddingsVerdict> ValidateEmbeddingsAsync(EmbeddingsRequest request, ContentPolicy policy, CancellationToken cancellationToken);
}
