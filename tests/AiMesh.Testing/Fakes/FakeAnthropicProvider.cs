using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AiMesh.Testing.Fakes;

/// <summary>
/// A fake Anthropic Messages API (<c>POST /v1/messages</c>): the message, or its server-sent events
/// (message_start, content_block_start/delta/stop with text_delta and input_json_delta, ping,
/// message_delta with the output usage, message_stop), and errors as <c>{"type":"error","error":{...}}</c>.
/// It refuses requests without <c>anthropic-version</c> or <c>max_tokens</c>, as Anthropic does.
/// </summary>
public sealed class FakeAnthropicProvider : FakeProviderServer
{
    public const string MessageId = "msg_01FakeAnthropicMessage";
    public const string ToolUseId = "toolu_01FakeToolUse";

    private FakeAnthropicProvider()
    {
    }

    public static Task<FakeAnthropicProvider> StartAsync()
    {
        var fake = new FakeAnthropicProvider();
        return StartAsync(fake, app => app.MapPost("/v1/messages", fake.MessagesAsync));
    }

    public override JsonNode ErrorBody(int status, string message) => new JsonObject
    {
        ["type"] = "error",
        ["error"] = new JsonObject
        {
            ["type"] = status switch
            {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            },
            ["message"] = message,
        },
        ["request_id"] = "req_01FakeRequest",
    };

    private async Task MessagesAsync(HttpContext context)
    {
        if (await BeginAsync(context, "x-api-key") is not var (body, fault))
        {
            return;
        }

        if (string.IsNullOrEmpty(context.Request.Headers["anthropic-version"]) || body?["max_tokens"] is null)
        {
            await WriteJsonAsync(context, ErrorBody(400, "anthropic-version header and max_tokens are required"), 400);
            return;
        }

        var model = body["model"]?.GetValue<string>() ?? "unknown";
        var prompt = PromptTokens(body);
        var tool = CalledTool(body);
        if (body["stream"]?.GetValue<bool>() == true)
        {
            await StreamAsync(context, model, prompt, tool, fault);
            return;
        }

        var content = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = Reply });
        if (tool is not null)
        {
            content.Add(new JsonObject { ["type"] = "tool_use", ["id"] = ToolUseId, ["name"] = tool, ["input"] = JsonNode.Parse(ToolArguments) });
        }

        await WriteJsonAsync(context, new JsonObject
        {
            ["id"] = MessageId,
            ["type"] = "message",
            ["role"] = "assistant",
            ["model"] = model,
            ["content"] = content,
            ["stop_reason"] = tool is null ? "end_turn" : "tool_use",
            ["stop_sequence"] = null,
            ["usage"] = Usage(prompt, CompletionTokens),
        });
    }

    private async Task StreamAsync(HttpContext context, string model, int prompt, string? tool, Fault? fault)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        var events = new List<JsonObject>
        {
            new()
            {
                ["type"] = "message_start",
                ["message"] = new JsonObject
                {
                    ["id"] = MessageId,
                    ["type"] = "message",
                    ["role"] = "assistant",
                    ["model"] = model,
                    ["content"] = new JsonArray(),
                    ["stop_reason"] = null,
                    ["stop_sequence"] = null,
                    ["usage"] = Usage(prompt, 1),
                },
            },
            new() { ["type"] = "content_block_start", ["index"] = 0, ["content_block"] = new JsonObject { ["type"] = "text", ["text"] = string.Empty } },
            new() { ["type"] = "ping" },
        };
        var pieces = ReplyPieces();
        for (var i = 0; i < pieces.Count; i++)
        {
            events.Add(TextDelta(pieces[i]));
            if (i == 0)
            {
                // An empty delta, as Anthropic sometimes sends.
                events.Add(TextDelta(string.Empty));
            }
        }

        events.Add(new JsonObject { ["type"] = "content_block_stop", ["index"] = 0 });
        if (tool is not null)
        {
            events.Add(new JsonObject
            {
                ["type"] = "content_block_start",
                ["index"] = 1,
                ["content_block"] = new JsonObject { ["type"] = "tool_use", ["id"] = ToolUseId, ["name"] = tool, ["input"] = new JsonObject() },
            });
            events.Add(JsonDelta(string.Empty));
            events.AddRange(ArgumentFragments().Select(JsonDelta));
            events.Add(new JsonObject { ["type"] = "content_block_stop", ["index"] = 1 });
        }

        events.Add(new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = tool is null ? "end_turn" : "tool_use", ["stop_sequence"] = null },
            ["usage"] = new JsonObject { ["output_tokens"] = CompletionTokens },
        });
        events.Add(new JsonObject { ["type"] = "message_stop" });

        for (var sent = 0; sent < events.Count; sent++)
        {
            if (await StreamFaultAsync(context, fault, sent, () => WriteEventAsync(context, Event(new JsonObject
            {
                ["type"] = "error",
                ["error"] = new JsonObject { ["type"] = "overloaded_error", ["message"] = "Overloaded" },
            }))))
            {
                return;
            }

            await WriteEventAsync(context, Event(events[sent]));
        }
    }

    private static string Event(JsonObject data) => $"event: {data["type"]}\ndata: {data.ToJsonString(Raw)}\n\n";

    private static JsonObject TextDelta(string text) => new()
    {
        ["type"] = "content_block_delta",
        ["index"] = 0,
        ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = text },
    };

    private static JsonObject JsonDelta(string partial) => new()
    {
        ["type"] = "content_block_delta",
        ["index"] = 1,
        ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = partial },
    };

    /// <summary>Anthropic counts cache reads apart from input_tokens.</summary>
    private JsonObject Usage(int prompt, int output) => new()
    {
        ["input_tokens"] = prompt - CachedTokens,
        ["cache_creation_input_tokens"] = 0,
        ["cache_read_input_tokens"] = CachedTokens,
        ["output_tokens"] = output,
    };

    private static string? CalledTool(JsonNode body) =>
        body["tools"] is JsonArray { Count: > 0 } tools && body["tool_choice"]?["type"]?.GetValue<string>() != "none"
            ? tools[0]?["name"]?.GetValue<string>()
            : null;
}
