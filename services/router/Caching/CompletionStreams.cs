using System.Text.Json;
using System.Text.Json.Nodes;

namespace AiMesh.Router.Caching;

/// <summary>Between the two forms of one answer: a completion and its stream of chunks.</summary>
public static class CompletionStreams
{
    /// <summary>
    /// Rebuilds the completion a stream amounts to (content and tool-call fragments joined per
    /// choice), so a streamed answer can be cached and served to either kind of caller.
    /// </summary>
    public static JsonObject Assemble(IEnumerable<string> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var choices = new SortedDictionary<int, ChoiceBuilder>();
        string? id = null;
        string? model = null;
        long created = 0;
        foreach (var text in chunks)
        {
            var chunk = JsonNode.Parse(text)!.AsObject();
            id ??= chunk["id"]?.GetValue<string>();
            model ??= chunk["model"]?.GetValue<string>();
            created = chunk["created"]?.GetValue<long>() ?? created;
            foreach (var choice in chunk["choices"]?.AsArray() ?? [])
            {
                var index = choice!["index"]?.GetValue<int>() ?? 0;
                var builder = choices.TryGetValue(index, out var existing) ? existing : choices[index] = new ChoiceBuilder();
                builder.Add(choice.AsObject());
            }
        }

        return new JsonObject
        {
            ["id"] = id ?? "chatcmpl-cached",
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(choices.Select(c => (JsonNode)c.Value.Build(c.Key)).ToArray()),
        };
    }

    /// <summary>Replays a completion as chunks: role, content, tool calls, finish reason, then usage when asked for.</summary>
    public static IEnumerable<string> Replay(JsonElement completion, JsonElement? usage)
    {
        var root = JsonNode.Parse(completion.GetRawText())!.AsObject();
        var id = root["id"]?.GetValue<string>() ?? "chatcmpl-cached";
        var model = root["model"]?.GetValue<string>();
        var created = root["created"]?.GetValue<long>() ?? 0;
        foreach (var choice in root["choices"]?.AsArray() ?? [])
        {
            var index = choice!["index"]?.GetValue<int>() ?? 0;
            var message = choice["message"]?.AsObject() ?? [];
            var delta = new JsonObject { ["role"] = message["role"]?.DeepClone() ?? "assistant", ["content"] = message["content"]?.DeepClone() };
            if (message["tool_calls"] is JsonArray calls)
            {
                delta["tool_calls"] = new JsonArray(calls.Select((c, i) =>
                {
                    var call = c!.DeepClone().AsObject();
                    call["index"] = i;
                    return (JsonNode)call;
                }).ToArray());
            }

            yield return Chunk(id, model, created, index, delta, null);
            yield return Chunk(id, model, created, index, [], choice["finish_reason"]?.GetValue<string>() ?? "stop");
        }

        if (usage is { } u)
        {
            yield return new JsonObject
            {
                ["id"] = id,
                ["object"] = "chat.completion.chunk",
                ["created"] = created,
                ["model"] = model,
                ["choices"] = new JsonArray(),
                ["usage"] = JsonNode.Parse(u.GetRawText()),
            }.ToJsonString();
        }
    }

    private static string Chunk(string id, string? model, long created, int index, JsonObject delta, string? finish) => new JsonObject
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject { ["index"] = index, ["delta"] = delta, ["finish_reason"] = finish }),
    }.ToJsonString();

    private sealed class ChoiceBuilder
    {
        private readonly System.Text.StringBuilder _content = new();
        private readonly SortedDictionary<int, (string? Id, string? Type, string? Name, System.Text.StringBuilder Arguments)> _calls = [];
        private string _role = "assistant";
        private string? _finish;
        private bool _hasContent;

        public void Add(JsonObject choice)
        {
            _finish = choice["finish_reason"]?.GetValue<string>() ?? _finish;
            if (choice["delta"] is not JsonObject delta)
            {
                return;
            }

            _role = delta["role"]?.GetValue<string>() ?? _role;
            if (delta["content"] is JsonValue content && content.TryGetValue<string>(out var text))
            {
                _content.Append(text);
                _hasContent = true;
            }

            foreach (var call in delta["tool_calls"]?.AsArray() ?? [])
            {
                var index = call!["index"]?.GetValue<int>() ?? 0;
                var current = _calls.TryGetValue(index, out var existing) ? existing : (null, null, null, new System.Text.StringBuilder());
                var function = call["function"];
                current.Id ??= call["id"]?.GetValue<string>();
                current.Type ??= call["type"]?.GetValue<string>();
                current.Name ??= function?["name"]?.GetValue<string>();
                current.Arguments.Append(function?["arguments"]?.GetValue<string>());
                _calls[index] = current;
            }
        }

        public JsonObject Build(int index)
        {
            var message = new JsonObject { ["role"] = _role, ["content"] = _hasContent ? _content.ToString() : null };
            if (_calls.Count > 0)
            {
                message["tool_calls"] = new JsonArray(_calls.Values.Select(c => (JsonNode)new JsonObject
                {
                    ["id"] = c.Id,
                    ["type"] = c.Type ?? "function",
                    ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments.ToString() },
                }).ToArray());
            }

            return new JsonObject { ["index"] = index, ["message"] = message, ["finish_reason"] = _finish ?? "stop" };
        }
    }
}
