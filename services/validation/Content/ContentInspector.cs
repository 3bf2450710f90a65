using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;

namespace AiMesh.Validation.Content;

/// <summary>
/// Applies a tenant's content policy to a valid request: screens user text for prompt injection
/// and redacts (or refuses) personal data in the text of every message. Only text is inspected:
/// string contents and <c>text</c> parts; images, files, tool calls and tool definitions are not.
/// </summary>
public static class ContentInspector
{
    public sealed record Result(ChatCompletionRequest Request, ContentFindings? Findings, ValidationIssue? Refusal);

    public sealed record EmbeddingsResult(EmbeddingsRequest Request, ContentFindings? Findings, ValidationIssue? Refusal);

    /// <summary>The PII part of the policy on embeddings input (a string or an array of strings; token ids are left alone).</summary>
    public static EmbeddingsResult InspectEmbeddings(EmbeddingsRequest request, ContentPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.Pii == ContentPolicy.Off || request.Input is not { } input)
        {
            return new EmbeddingsResult(request, null, null);
        }

        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int? first = null;
        var rewritten = input;
        var changed = false;
        if (input.ValueKind == JsonValueKind.String)
        {
            var original = input.GetString()!;
            var redacted = PiiRedactor.Redact(original, counts);
            changed = !ReferenceEquals(redacted, original);
            rewritten = changed ? JsonSerializer.SerializeToElement(redacted) : input;
        }
        else if (input.ValueKind == JsonValueKind.Array)
        {
            var items = new List<JsonElement>();
            var index = 0;
            foreach (var item in input.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String && item.GetString() is { } original && PiiRedactor.Redact(original, counts) is var redacted && !ReferenceEquals(redacted, original))
                {
                    first ??= index;
                    changed = true;
                    items.Add(JsonSerializer.SerializeToElement(redacted));
                }
                else
                {
                    items.Add(item);
                }

                index++;
            }

            rewritten = changed ? JsonSerializer.SerializeToElement(items) : input;
        }

        var findings = new ContentFindings
        {
            Pii = counts.Count == 0 ? ContentFindings.Clean : policy.Pii == ContentPolicy.Block ? ContentFindings.Blocked : ContentFindings.Redacted,
            Redactions = counts,
        };
        if (findings.Pii == ContentFindings.Blocked)
        {
            return new EmbeddingsResult(request, findings, new ValidationIssue(first is null ? "input" : $"input[{first}]",
                $"The input contains personal data or secrets this tenant may not send ({Describe(counts)}).", "pii_detected"));
        }

        return new EmbeddingsResult(changed ? request with { Input = rewritten } : request, findings, null);
    }

    public static Result Inspect(ChatCompletionRequest request, ContentPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(policy);
        var screening = policy.Screening != ContentPolicy.Off;
        var pii = policy.Pii != ContentPolicy.Off;
        if (!screening && !pii || request.Messages is null)
        {
            return new Result(request, null, null);
        }

        var signals = new SortedSet<string>(StringComparer.Ordinal);
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int? firstSignal = null, firstPii = null;
        var messages = request.Messages;
        List<ChatMessage>? rewritten = null;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            if (screening && message.Role == "user")
            {
                var before = signals.Count;
                foreach (var text in MessageTexts.Of(message.Content))
                {
                    PromptScreener.Screen(text, signals);
                }

                firstSignal ??= signals.Count > before ? i : null;
            }

            if (pii)
            {
                var found = counts.Values.Sum();
                var content = MessageTexts.Rewrite(message.Content, text => PiiRedactor.Redact(text, counts));
                firstPii ??= counts.Values.Sum() > found ? i : null;
                if (policy.Pii == ContentPolicy.Redact && !Equals(content, message.Content))
                {
                    rewritten ??= [.. messages];
                    rewritten[i] = message with { Content = content };
                }
            }
        }

        var findings = new ContentFindings
        {
            Screening = !screening ? ContentFindings.NotChecked
                : signals.Count == 0 ? ContentFindings.Clean
                : policy.Screening == ContentPolicy.Block ? ContentFindings.Blocked : ContentFindings.Flagged,
            Signals = [.. signals],
            Pii = !pii ? ContentFindings.NotChecked
                : counts.Count == 0 ? ContentFindings.Clean
                : policy.Pii == ContentPolicy.Block ? ContentFindings.Blocked : ContentFindings.Redacted,
            Redactions = counts,
        };
        var refusal = findings.Screening == ContentFindings.Blocked
            ? new ValidationIssue($"messages[{firstSignal}].content",
                $"The request was refused by prompt screening ({string.Join(", ", signals)}).", "content_policy_violation")
            : findings.Pii == ContentFindings.Blocked
                ? new ValidationIssue($"messages[{firstPii}].content",
                    $"The request contains personal data or secrets this tenant may not send ({Describe(counts)}).", "pii_detected")
                : null;
        return new Result(rewritten is null ? request : request with { Messages = rewritten }, findings, refusal);
    }

    /// <summary>Counts by kind, never values: "email: 2, phone: 1".</summary>
    private static string Describe(IEnumerable<KeyValuePair<string, int>> counts) => string.Join(", ", counts.Select(c => $"{c.Key}: {c.Value}"));
}

/// <summary>The text of a message's content: a string, or the <c>text</c> of its text parts.</summary>
internal static class MessageTexts
{
    public static IEnumerable<string> Of(JsonElement? content)
    {
        if (content is { ValueKind: JsonValueKind.String } text)
        {
            yield return text.GetString()!;
        }
        else if (content is { ValueKind: JsonValueKind.Array } parts)
        {
            foreach (var part in parts.EnumerateArray())
            {
                if (TextOf(part) is { } partText)
                {
                    yield return partText;
                }
            }
        }
    }

    /// <summary>The content with <paramref name="rewrite"/> applied to each text; the same value when none changed.</summary>
    public static JsonElement? Rewrite(JsonElement? content, Func<string, string> rewrite)
    {
        if (content is { ValueKind: JsonValueKind.String } text)
        {
            var original = text.GetString()!;
            var result = rewrite(original);
            return ReferenceEquals(result, original) ? content : JsonSerializer.SerializeToElement(result);
        }

        if (content is not { ValueKind: JsonValueKind.Array } parts)
        {
            return content;
        }

        JsonArray? changed = null;
        var index = 0;
        foreach (var part in parts.EnumerateArray())
        {
            if (TextOf(part) is { } original && rewrite(original) is var result && !ReferenceEquals(result, original))
            {
                changed ??= JsonNode.Parse(parts.GetRawText())!.AsArray();
                changed[index]!["text"] = result;
            }

            index++;
        }

        return changed is null ? content : JsonSerializer.SerializeToElement(changed);
    }

    private static string? TextOf(JsonElement part) =>
        part.ValueKind == JsonValueKind.Object
        && part.TryGetProperty("type", out var type) && type.IsText("text")
        && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String
            ? text.GetString()
            : null;
}
