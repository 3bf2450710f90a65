using AiMesh.Contracts;
using AiMesh.Validation.Content;
using FluentValidation;

namespace AiMesh.Validation;

/// <summary>Validates and normalises a request. In embedded mode the router calls this directly.</summary>
public sealed class ValidationService(IValidator<ChatCompletionRequest> validator) : IValidationClient
{
    public Task<ValidationVerdict> ValidateChatAsync(ChatCompletionRequest request, ContentPolicy policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(policy);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<ValidationVerdict>(cancellationToken);
        }

        // Every rule is synchronous: FluentValidation's synchronous path skips an async state machine per rule.
        var result = validator.Validate(request);
        if (!result.IsValid)
        {
            var issues = result.Errors.Select(e => new ValidationIssue(ToJsonPath(e.PropertyName), e.ErrorMessage)).ToList();
            return Task.FromResult(new ValidationVerdict(false, null, issues));
        }

        // Screening and redaction run on what was accepted, so they see the normalised request.
        var inspected = ContentInspector.Inspect(Normalise(request), policy);
        return Task.FromResult(inspected.Refusal is { } refusal
            ? new ValidationVerdict(false, null, [refusal], inspected.Findings)
            : new ValidationVerdict(true, inspected.Request, [], inspected.Findings));
    }

    public Task<EmbeddingsVerdict> ValidateEmbeddingsAsync(EmbeddingsRequest request, ContentPolicy policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(policy);
        var inspected = ContentInspector.InspectEmbeddings(request, policy);
        return Task.FromResult(inspected.Refusal is { } refusal
            ? new EmbeddingsVerdict(false, null, [refusal], inspected.Findings)
            : new EmbeddingsVerdict(true, inspected.Request, [], inspected.Findings));
    }

    /// <summary>Trims the model name; everything else is passed on as the caller sent it.</summary>
    public static ChatCompletionRequest Normalise(ChatCompletionRequest request) =>
        request with { Model = request.Model!.Trim() };

    // FluentValidation says "messages[0].Role"; callers know the wire name "messages[0].role".
    private static string ToJsonPath(string propertyName) => propertyName switch
    {
        "TopP" => "top_p",
        "MaxTokens" => "max_tokens",
        "MaxCompletionTokens" => "max_completion_tokens",
        "PresencePenalty" => "presence_penalty",
        "FrequencyPenalty" => "frequency_penalty",
        "StreamOptions" => "stream_options",
        "ToolChoice" => "tool_choice",
        "ResponseFormat" => "response_format",
        _ => propertyName.Replace("ToolCallId", "tool_call_id", StringComparison.Ordinal).Replace("ToolCalls", "tool_calls", StringComparison.Ordinal).ToLowerInvariant(),
    };
}
