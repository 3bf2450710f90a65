using System.Text.Json;
using AiMesh.Contracts;
using FluentValidation;

namespace AiMesh.Validation;

/// <summary>The schema and limits of an OpenAI chat completion request.</summary>
public sealed class ChatCompletionRequestValidator : AbstractValidator<ChatCompletionRequest>
{
    public static readonly IReadOnlySet<string> Roles = new HashSet<string>(StringComparer.Ordinal)
    {
        "system", "developer", "user", "assistant", "tool", "function",
    };

    public static readonly IReadOnlySet<string> PartTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "text", "image_url", "input_audio", "file", "refusal",
    };

    public ChatCompletionRequestValidator(ValidationLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        RuleFor(r => r.Model).NotEmpty().WithMessage("'model' is required.")
            .MaximumLength(256).WithMessage("'model' must be at most 256 characters.");
        RuleFor(r => r.Messages).NotNull().WithMessage("'messages' is required.")
            .Must(m => m is null || m.Count > 0).WithMessage("'messages' must contain at least one message.")
            .Must(m => m is null || m.Count <= limits.MaxMessages).WithMessage($"'messages' must contain at most {limits.MaxMessages} messages.")
            .Must(m => m is null || m.All(message => message is not null)).WithMessage("Each entry of 'messages' must be a message object, not null.")
            .Must(m => RequestShapes.CountImages(m) <= limits.MaxImages).WithMessage($"A request may hold at most {limits.MaxImages} images.");
        // One rule per message rather than a child validator of seven: FluentValidation builds each child
        // rule's property path ("messages[3].content") before running it, which cost more than the checks.
        RuleForEach(r => r.Messages).Custom((message, context) => ValidateMessage(message, context, limits));
        RuleFor(r => r.Temperature).InclusiveBetween(0, 2).WithMessage("'temperature' must be between 0 and 2.");
        RuleFor(r => r.TopP).InclusiveBetween(0, 1).WithMessage("'top_p' must be between 0 and 1.");
        RuleFor(r => r.N).InclusiveBetween(1, limits.MaxChoices).WithMessage($"'n' must be between 1 and {limits.MaxChoices}.");
        RuleFor(r => r.MaxTokens).InclusiveBetween(1, limits.MaxOutputTokens).WithMessage($"'max_tokens' must be between 1 and {limits.MaxOutputTokens}.");
        RuleFor(r => r.MaxCompletionTokens).InclusiveBetween(1, limits.MaxOutputTokens).WithMessage($"'max_completion_tokens' must be between 1 and {limits.MaxOutputTokens}.");
        RuleFor(r => r.PresencePenalty).InclusiveBetween(-2, 2).WithMessage("'presence_penalty' must be between -2 and 2.");
        RuleFor(r => r.FrequencyPenalty).InclusiveBetween(-2, 2).WithMessage("'frequency_penalty' must be between -2 and 2.");
        RuleFor(r => r.Stop).Must(BeValidStop).WithMessage("'stop' must be a string or an array of at most 4 strings.");
        RuleFor(r => r.Tools).Must(t => RequestShapes.AreValidTools(t, limits.MaxTools))
            .WithMessage($"'tools' must be an array of at most {limits.MaxTools} tools; a function tool is {{\"type\":\"function\",\"function\":{{\"name\": 1-64 of a-z, A-Z, 0-9, _ and -, \"parameters\": a JSON Schema object}}}}.");
        RuleFor(r => r.ToolChoice).Must(RequestShapes.IsValidToolChoice)
            .WithMessage("'tool_choice' must be \"none\", \"auto\", \"required\" or an object naming a tool.");
        RuleFor(r => r.ToolChoice).Custom((choice, context) =>
        {
            if (RequestShapes.IsValidToolChoice(choice) && RequestShapes.ToolChoiceError(choice, context.InstanceToValidate.Tools) is { } error)
            {
                context.AddFailure(nameof(ChatCompletionRequest.ToolChoice), error);
            }
        });
        RuleFor(r => r.ResponseFormat).Must(RequestShapes.IsValidResponseFormat)
            .WithMessage("'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\": {\"name\": 1-64 of a-z, A-Z, 0-9, _ and -, \"schema\": a JSON Schema object}}.");
        RuleFor(r => r.Messages).Custom(ValidateToolAnswers);
        RuleFor(r => r.Extra).Custom((extra, context) =>
        {
            foreach (var (param, message) in ExtraParameters.Problems(extra))
            {
                context.AddFailure(param, message);
            }
        });
        RuleFor(r => r.StreamOptions).Null().When(r => r.Stream != true)
            .WithMessage("'stream_options' is only allowed when 'stream' is true.");
    }

    /// <summary>The rules of one message, each reported at its property ("Messages[0].Role") as a child validator would.</summary>
    private static void ValidateMessage(ChatMessage? message, ValidationContext<ChatCompletionRequest> context, ValidationLimits limits)
    {
        if (message is null)
        {
            return;
        }

        void Fail(string property, string error) => context.AddFailure(new FluentValidation.Results.ValidationFailure($"{context.PropertyPath}.{property}", error, message));

        if (string.IsNullOrWhiteSpace(message.Role))
        {
            Fail(nameof(ChatMessage.Role), "'role' is required.");
        }

        if (message.Role is not null && !Roles.Contains(message.Role))
        {
            Fail(nameof(ChatMessage.Role), $"'{message.Role}' is not a valid role; expected one of: {string.Join(", ", Roles)}.");
        }

        var content = message.Content;
        if (!BeValidContent(content))
        {
            Fail(nameof(ChatMessage.Content), "'content' must be a string, an array of content parts with a known 'type', or null.");
        }

        if (message.Role is "user" or "system" or "developer" && content is not { ValueKind: JsonValueKind.String or JsonValueKind.Array })
        {
            Fail(nameof(ChatMessage.Content), "'content' is required for this role.");
        }

        if (content is { ValueKind: JsonValueKind.Array } array && array.GetArrayLength() == 0)
        {
            Fail(nameof(ChatMessage.Content), "'content' must not be an empty array: give at least one content part, or a string.");
        }

        // (A legacy function_call, or an audio reference, also stands for the content.)
        var saysNothing = content is null or { ValueKind: JsonValueKind.Null } && message.ToolCalls is null or { ValueKind: JsonValueKind.Null };
        if (message.Role == "assistant" && saysNothing && message.Extra?.ContainsKey("function_call") != true && message.Extra?.ContainsKey("audio") != true)
        {
            Fail(nameof(ChatMessage.Content), "An assistant message needs 'content' or 'tool_calls'.");
        }

        if (!RequestShapes.HaveWellFormedParts(content))
        {
            Fail(nameof(ChatMessage.Content), "A 'text' part needs a string 'text', an 'image_url' part an 'image_url' with a string 'url', and a 'file' part a 'file' with a string 'file_data' or 'file_id'.");
        }

        if (RequestShapes.LargestInlineImageBytes(content) > limits.MaxImageBytes)
        {
            Fail(nameof(ChatMessage.Content), $"An inline (data URL) image must be at most {limits.MaxImageBytes / (1024 * 1024)} MiB.");
        }

        if (!HaveFetchableImageUrls(content))
        {
            Fail(nameof(ChatMessage.Content), "'image_url.url' must be an http or https URL, or a base64 data URL.");
        }

        if (message.Role == "tool" && string.IsNullOrWhiteSpace(message.ToolCallId))
        {
            Fail(nameof(ChatMessage.ToolCallId), "'tool_call_id' is required for a tool message.");
        }

        if (RequestShapes.InlineMediaError(content) is { } media)
        {
            Fail(nameof(ChatMessage.Content), media);
        }

        if (message.ToolCalls is { ValueKind: not JsonValueKind.Null } && message.Role != "assistant")
        {
            Fail(nameof(ChatMessage.ToolCalls), "Only an assistant message may carry 'tool_calls'.");
        }
        else if (RequestShapes.ToolCallsError(message.ToolCalls) is { } calls)
        {
            Fail(nameof(ChatMessage.ToolCalls), calls);
        }
    }

    /// <summary>A tool message answers a tool call of an earlier assistant message (as OpenAI requires).</summary>
    private static void ValidateToolAnswers(List<ChatMessage>? messages, ValidationContext<ChatCompletionRequest> context)
    {
        if (messages is null)
        {
            return;
        }

        HashSet<string>? calls = null;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            if (message?.Role == "assistant")
            {
                foreach (var id in RequestShapes.ToolCallIds(message.ToolCalls))
                {
                    (calls ??= new HashSet<string>(StringComparer.Ordinal)).Add(id);
                }
            }
            else if (message is { Role: "tool", ToolCallId: { Length: > 0 } id } && calls?.Contains(id) != true)
            {
                context.AddFailure($"Messages[{i}].ToolCallId", $"The tool message answers the tool call '{id}', which no earlier assistant message made.");
            }
        }
    }

    private static bool BeValidContent(JsonElement? content) => content switch
    {
        null => true,
        { ValueKind: JsonValueKind.Null or JsonValueKind.String } => true,
        { ValueKind: JsonValueKind.Array } array => array.EnumerateArray().All(part =>
            part.ValueKind == JsonValueKind.Object
            && part.TryGetProperty("type", out var type)
            && type.ValueKind == JsonValueKind.String
            && PartTypes.Contains(type.GetString()!)),
        _ => false,
    };

    /// <summary>
    /// Image URLs use http, https or data: never file, ftp, gopher and the like. Whether an http(s) URL may be
    /// fetched (its addresses) is decided by the provider adapter when, and only if, it fetches it.
    /// </summary>
    private static bool HaveFetchableImageUrls(JsonElement? content) =>
        content is not { ValueKind: JsonValueKind.Array } array || array.EnumerateArray().All(part =>
            part.ValueKind != JsonValueKind.Object
            || !part.TryGetProperty("type", out var type) || !type.IsText("image_url")
            || RequestShapes.ImageUrl(part) is not { } url
            || IsAllowedImageUrl(url));

    public static bool IsAllowedImageUrl(string url) =>
        url.StartsWith("data:", StringComparison.OrdinalIgnoreCase)
        || (Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) && uri.Host.Length > 0);

    private static bool BeValidStop(JsonElement? stop) => stop switch
    {
        null => true,
        { ValueKind: JsonValueKind.Null or JsonValueKind.String } => true,
        { ValueKind: JsonValueKind.Array } array => array.GetArrayLength() <= 4
            && array.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String),
        _ => false,
    };
}
