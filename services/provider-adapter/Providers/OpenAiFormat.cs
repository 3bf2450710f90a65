using System.Text.Json;
using System.Text.Json.Nodes;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>Writes OpenAI's chat completion format for the wires that translate from another one.</summary>
public static class OpenAiFormat
{
    public const string Stop = "stop";
    public const string Length = "length";
    public const string ToolCalls = "tool_calls";
    public const string ContentFilter = "content_filter";

    /// <summary>A <c>chat.completion</c> object.</summary>
    public static JsonElement Completion(string id, string model, long created, JsonArray choices, WireUsage? usage)
    {
        ArgumentNullException.ThrowIfNull(choices);
        var completion = new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = choices,
        };
        if (usage is { } u)
        {
            completion["usage"] = UsageJson(u);
        }

        return JsonSerializer.SerializeToElement(completion);
    }

    /// <summary>One choice of a completion: the assistant message with its text and tool calls.</summary>
    public static JsonObject Choice(int index, string? text, JsonArray? toolCalls, string finishReason)
    {
        var message = new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = text is null && toolCalls is { Count: > 0 } ? null : text ?? string.Empty,
            ["refusal"] = null,
        };
        if (toolCalls is { Count: > 0 })
        {
            message["tool_calls"] = toolCalls;
        }

        return new JsonObject { ["index"] = index, ["message"] = message, ["logprobs"] = null, ["finish_reason"] = finishReason };
    }

    /// <summary>A tool call of a completion; <paramref name="arguments"/> is the JSON text of the arguments.</summary>
    public static JsonObject ToolCall(string id, string name, string arguments) => new()
    {
        ["id"] = id,
        ["type"] = "function",
        ["function"] = new JsonObject { ["name"] = name, ["arguments"] = arguments },
    };

    public static JsonObject UsageJson(WireUsage usage) => new()
    {
        ["prompt_tokens"] = usage.PromptTokens,
        ["completion_tokens"] = usage.CompletionTokens,
        ["total_tokens"] = usage.PromptTokens + usage.CompletionTokens,
        ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = usage.CachedTokens },
    };

    /// <summary>A fresh OpenAI-style tool call id, for providers whose calls have none.</summary>
    public static string NewToolCallId() => "call_" + Guid.NewGuid().ToString("N")[..24];

    /// <summary>A fresh completion id, for providers whose answers have none.</summary>
    public static string NewCompletionId() => "chatcmpl-" + Guid.NewGuid().ToString("N");

    /// <summary>The JSON text of a value (tool arguments), or <c>{}</c> for none.</summary>
    public static string JsonText(JsonElement? value) =>
        value is { ValueKind: not (JsonValueKind.Undefined or JsonValueKind.Null) } v ? v.GetRawText() : "{}";
}

/// <summary>Writes the chunks of one translated stream (same id, model and creation time throughout).</summary>
public sealed class ChunkWriter(string id, string model, long created)
{
    public string Id { get; set; } = id;

    public string Model { get; set; } = model;

    /// <summary>A chunk with one choice's delta (and finish reason, when it finishes).</summary>
    public WireChunk Delta(JsonObject delta, string? finishReason = null, int index = 0)
    {
        ArgumentNullException.ThrowIfNull(delta);
        var chars = delta["content"] is JsonValue content && content.TryGetValue<string>(out var text) ? text.Length : 0;
        var chunk = Envelope();
        chunk["choices"] = new JsonArray(new JsonObject { ["index"] = index, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finishReason });
        return new WireChunk(chunk.ToJsonString(), UsageOnly: false, Usage: null, chars);
    }

    /// <summary>The usage-only chunk at the end of a stream (what OpenAI sends for <c>stream_options.include_usage</c>).</summary>
    public WireChunk Usage(WireUsage usage)
    {
        var chunk = Envelope();
        chunk["choices"] = new JsonArray();
        chunk["usage"] = OpenAiFormat.UsageJson(usage);
        return new WireChunk(chunk.ToJsonString(), UsageOnly: true, usage, 0);
    }

    /// <summary>A streamed tool call's first delta: id, name and (possibly empty) arguments.</summary>
    public static JsonObject ToolCallStart(int index, string id, string name, string arguments) => new()
    {
        ["tool_calls"] = new JsonArray(new JsonObject
        {
            ["index"] = index,
            ["id"] = id,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = name, ["arguments"] = arguments },
        }),
    };

    /// <summary>A fragment of a streamed tool call's arguments.</summary>
    public static JsonObject ToolCallArguments(int index, string fragment) => new()
    {
        ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = fragment } }),
    };

    private JsonObject Envelope() => new()
    {
        ["id"] = Id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = Model,
    };
}
