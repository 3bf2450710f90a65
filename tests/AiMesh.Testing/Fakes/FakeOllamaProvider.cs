using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AiMesh.Testing.Fakes;

/// <summary>
/// A fake Ollama server: <c>POST /api/chat</c>, streaming by default (newline-delimited JSON, one
/// message fragment per line, tool calls whole, a final <c>done: true</c> line with done_reason,
/// prompt_eval_count and eval_count), and errors as <c>{"error":"..."}</c>.
/// </summary>
public sealed class FakeOllamaProvider : FakeProviderServer
{
    private const string CreatedAt = "2026-01-01T00:00:00.000000Z";

    private FakeOllamaProvider()
    {
    }

    /// <summary>Sent as done_reason (Ollama says "stop" even when it called a tool).</summary>
    public string DoneReason { get; set; } = "stop";

    public static Task<FakeOllamaProvider> StartAsync()
    {
        var fake = new FakeOllamaProvider();
        return StartAsync(fake, app =>
        {
            app.MapPost("/api/chat", fake.ChatAsync);
            app.MapPost("/api/embed", fake.EmbedAsync);
            app.MapGet("/", () => "Ollama is running");
        });
    }

    public override JsonNode ErrorBody(int status, string message) => new JsonObject { ["error"] = message };

    private async Task EmbedAsync(HttpContext context)
    {
        if (await BeginAsync(context, "Authorization") is not var (body, _))
        {
            return;
        }

        var inputs = body?["input"] switch
        {
            JsonArray many => many.Select(i => i!.GetValue<string>()).ToList(),
            var one => [one!.GetValue<string>()],
        };
        var dimensions = body?["dimensions"]?.GetValue<int>();
        await WriteJsonAsync(context, new JsonObject
        {
            ["model"] = body?["model"]?.GetValue<string>(),
            ["embeddings"] = new JsonArray(inputs.Select(t => (JsonNode)new JsonArray(FakeEmbeddings.Vector(t, dimensions).Select(f => (JsonNode)JsonValue.Create(f)).ToArray())).ToArray()),
            ["prompt_eval_count"] = inputs.Sum(FakeEmbeddings.Tokens),
        });
    }

    private async Task ChatAsync(HttpContext context)
    {
        if (await BeginAsync(context, "Authorization") is not var (body, fault))
        {
            return;
        }

        var model = body?["model"]?.GetValue<string>() ?? "unknown";
        if (body?["messages"] is not JsonArray)
        {
            await WriteJsonAsync(context, ErrorBody(400, "invalid request: messages are required"), 400);
            return;
        }

        var prompt = PromptTokens(body);
        var tool = body["tools"] is JsonArray { Count: > 0 } tools ? tools[0]?["function"]?["name"]?.GetValue<string>() : null;
        // Ollama streams unless told otherwise.
        if (body["stream"]?.GetValue<bool>() != false)
        {
            await StreamAsync(context, model, prompt, tool, fault);
            return;
        }

        var message = new JsonObject { ["role"] = "assistant", ["content"] = Reply };
        if (tool is not null)
        {
            message["tool_calls"] = new JsonArray(ToolCall(tool));
        }

        await WriteJsonAsync(context, Final(model, message, prompt));
    }

    private async Task StreamAsync(HttpContext context, string model, int prompt, string? tool, Fault? fault)
    {
        context.Response.ContentType = "application/x-ndjson";
        var lines = new List<JsonObject>();
        var pieces = ReplyPieces();
        for (var i = 0; i < pieces.Count; i++)
        {
            lines.Add(Line(model, new JsonObject { ["role"] = "assistant", ["content"] = pieces[i] }));
            if (i == 0)
            {
                lines.Add(Line(model, new JsonObject { ["role"] = "assistant", ["content"] = string.Empty }));
            }
        }

        if (tool is not null)
        {
            lines.Add(Line(model, new JsonObject { ["role"] = "assistant", ["content"] = string.Empty, ["tool_calls"] = new JsonArray(ToolCall(tool)) }));
        }

        lines.Add(Final(model, new JsonObject { ["role"] = "assistant", ["content"] = string.Empty }, prompt));
        for (var sent = 0; sent < lines.Count; sent++)
        {
            if (await StreamFaultAsync(context, fault, sent, () => WriteEventAsync(context, ErrorBody(500, "an error was encountered while running the model: unexpected EOF").ToJsonString(Raw) + "\n")))
            {
                return;
            }

            await WriteEventAsync(context, lines[sent].ToJsonString(Raw) + "\n");
        }
    }

    private static JsonObject Line(string model, JsonObject message) => new()
    {
        ["model"] = model,
        ["created_at"] = CreatedAt,
        ["message"] = message,
        ["done"] = false,
    };

    private JsonObject Final(string model, JsonObject message, int prompt) => new()
    {
        ["model"] = model,
        ["created_at"] = CreatedAt,
        ["message"] = message,
        ["done_reason"] = DoneReason,
        ["done"] = true,
        ["total_duration"] = 1_234_567_890,
        ["load_duration"] = 12_345_678,
        ["prompt_eval_count"] = prompt,
        ["prompt_eval_duration"] = 123_456_789,
        ["eval_count"] = CompletionTokens,
        ["eval_duration"] = 987_654_321,
    };

    private JsonObject ToolCall(string tool) => new()
    {
        ["function"] = new JsonObject { ["name"] = tool, ["arguments"] = JsonNode.Parse(ToolArguments) },
    };
}
