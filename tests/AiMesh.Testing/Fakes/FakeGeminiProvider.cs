using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AiMesh.Testing.Fakes;

/// <summary>
/// A fake Gemini API: <c>POST /v1beta/models/{model}:generateContent</c> and
/// <c>:streamGenerateContent?alt=sse</c> (server-sent events with CRLF line ends, each a whole
/// GenerateContentResponse with usageMetadata; a function call arrives whole, with a thought signature;
/// the last event carries the finishReason and the final usage), and errors as
/// <c>{"error":{"code","message","status"}}</c>.
/// </summary>
public sealed class FakeGeminiProvider : FakeProviderServer
{
    public const string ResponseId = "fake-gemini-response-1";
    public const string ThoughtSignature = "RmFrZVRob3VnaHRTaWduYXR1cmU=";

    private FakeGeminiProvider()
    {
    }

    /// <summary>Sent as finishReason unless a test changes it (e.g. SAFETY, MAX_TOKENS).</summary>
    public string FinishReason { get; set; } = "STOP";

    public static Task<FakeGeminiProvider> StartAsync()
    {
        var fake = new FakeGeminiProvider();
        return StartAsync(fake, app => app.MapPost("/v1beta/{kind}/{**rest}", fake.GenerateAsync));
    }

    public override JsonNode ErrorBody(int status, string message) => new JsonObject
    {
        ["error"] = new JsonObject
        {
            ["code"] = status,
            ["message"] = message,
            ["status"] = status switch
            {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                504 => "DEADLINE_EXCEEDED",
                _ => "INTERNAL",
            },
        },
    };

    private async Task GenerateAsync(HttpContext context, string kind, string rest)
    {
        if (await BeginAsync(context, "x-goog-api-key") is not var (body, fault))
        {
            return;
        }

        var colon = rest.LastIndexOf(':');
        var method = colon < 0 ? string.Empty : rest[(colon + 1)..];
        if (method == "batchEmbedContents")
        {
            // Gemini reports no token counts for embeddings.
            var embeddings = new JsonArray((body?["requests"]?.AsArray() ?? []).Select(r =>
            {
                var text = string.Concat(r?["content"]?["parts"]?.AsArray().Select(p => p?["text"]?.GetValue<string>()) ?? []);
                var vector = FakeEmbeddings.Vector(text, r?["outputDimensionality"]?.GetValue<int>());
                return (JsonNode)new JsonObject { ["values"] = new JsonArray(vector.Select(f => (JsonNode)JsonValue.Create(f)).ToArray()) };
            }).ToArray());
            await WriteJsonAsync(context, new JsonObject { ["embeddings"] = embeddings });
            return;
        }

        var model = colon < 0 ? rest : rest[..colon];
        if (kind is not ("models" or "tunedModels") || method is not ("generateContent" or "streamGenerateContent") || body?["contents"] is not JsonArray)
        {
            await WriteJsonAsync(context, ErrorBody(404, $"Method or request not found: {kind}/{rest}"), 404);
            return;
        }

        var prompt = PromptTokens(body);
        var tool = CalledTool(body);
        if (method == "generateContent")
        {
            var parts = new JsonArray(new JsonObject { ["text"] = Reply });
            if (tool is not null)
            {
                parts.Add(FunctionCall(tool));
            }

            await WriteJsonAsync(context, new JsonObject
            {
                ["candidates"] = new JsonArray(Candidate(parts, FinishReason)),
                ["usageMetadata"] = Usage(prompt, CompletionTokens),
                ["modelVersion"] = model,
                ["responseId"] = ResponseId,
            });
            return;
        }

        if (context.Request.Query["alt"] != "sse")
        {
            await WriteJsonAsync(context, ErrorBody(400, "The fake streams only with alt=sse."), 400);
            return;
        }

        context.Response.ContentType = "text/event-stream";
        var events = new List<JsonObject>();
        var pieces = ReplyPieces();
        for (var i = 0; i < pieces.Count; i++)
        {
            events.Add(Response(model, new JsonArray(new JsonObject { ["text"] = pieces[i] }), null, Usage(prompt, i + 1)));
            if (i == 0)
            {
                // An empty text part, as Gemini sometimes sends.
                events.Add(Response(model, new JsonArray(new JsonObject { ["text"] = string.Empty }), null, Usage(prompt, i + 1)));
            }
        }

        if (tool is not null)
        {
            events.Add(Response(model, new JsonArray(FunctionCall(tool)), null, Usage(prompt, pieces.Count + 1)));
        }

        events.Add(Response(model, new JsonArray(new JsonObject { ["text"] = string.Empty }), FinishReason, Usage(prompt, CompletionTokens)));
        for (var sent = 0; sent < events.Count; sent++)
        {
            if (await StreamFaultAsync(context, fault, sent, () => WriteEventAsync(context, Event(ErrorBody(503, "The model is overloaded. Please try again later.")))))
            {
                return;
            }

            await WriteEventAsync(context, Event(events[sent]));
        }
    }

    private static string Event(JsonNode data) => $"data: {data.ToJsonString(Raw)}\r\n\r\n";

    private static JsonObject Response(string model, JsonArray parts, string? finishReason, JsonObject usage) => new()
    {
        ["candidates"] = new JsonArray(Candidate(parts, finishReason)),
        ["usageMetadata"] = usage,
        ["modelVersion"] = model,
        ["responseId"] = ResponseId,
    };

    private static JsonObject Candidate(JsonArray parts, string? finishReason)
    {
        var candidate = new JsonObject { ["content"] = new JsonObject { ["parts"] = parts, ["role"] = "model" } };
        if (finishReason is not null)
        {
            candidate["finishReason"] = finishReason;
        }

        candidate["index"] = 0;
        return candidate;
    }

    private JsonObject FunctionCall(string tool) => new()
    {
        ["functionCall"] = new JsonObject { ["name"] = tool, ["args"] = JsonNode.Parse(ToolArguments) },
        ["thoughtSignature"] = ThoughtSignature,
    };

    private JsonObject Usage(int prompt, int candidates)
    {
        var usage = new JsonObject
        {
            ["promptTokenCount"] = prompt,
            ["candidatesTokenCount"] = candidates,
            ["totalTokenCount"] = prompt + candidates,
        };
        if (CachedTokens > 0)
        {
            usage["cachedContentTokenCount"] = CachedTokens;
        }

        return usage;
    }

    private static string? CalledTool(JsonNode? body) =>
        body?["tools"]?[0]?["functionDeclarations"] is JsonArray { Count: > 0 } declarations
        && body["toolConfig"]?["functionCallingConfig"]?["mode"]?.GetValue<string>() != "NONE"
            ? declarations[0]?["name"]?.GetValue<string>()
            : null;
}
