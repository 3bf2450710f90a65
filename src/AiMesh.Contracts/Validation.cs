namespace AiMesh.Contracts;

/// <summary>The validation service's answer: the normalised request, or what is wrong with it.</summary>
public sealed record ValidationVerdict(
    bool IsValid,
    ChatCompletionRequest? Normalised,
    IReadOnlyList<ValidationIssue> Issues);

/// <summary>One problem with a request; <paramref name="Param"/> is the JSON path of the offending field.</summary>
public sealed record ValidationIssue(string Param, string Message);

/// <summary>router → validation.</summary>
public interface IValidationClient
{
    Task<ValidationVerdict> ValidateChatAsync(ChatCompletionRequest request, CancellationToken cancellationToken);
}
