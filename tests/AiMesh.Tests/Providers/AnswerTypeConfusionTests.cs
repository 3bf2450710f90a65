using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Providers;
using static AiMesh.Tests.Security.JsonMutations;

namespace AiMesh.Tests.Providers;

/// <summary>
/// Valid provider answers, whole and streamed, with one value at a time replaced by a value of another JSON
/// kind: each wire either reads the answer or refuses it with the exceptions the adapter turns into a 502
/// and a failover. Any other exception would escape the adapter as a 500.
/// </summary>
public sealed class AnswerTypeConfusionTests
{
    private static readonly WireContext Context = new("m", 1_700_000_000, "sk-test-key");

    public static TheoryData<string, string> Answers => new()
    {
        {
            "openai",
            """{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":1}}}"""
        },
        {
            "anthropic",
            """{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":2,"cache_read_input_tokens":1}}"""
        },
        {
            "gemini",
            """{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"},{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"cachedContentTokenCount":1}}"""
        },
        {
            "ollama",
            """{"model":"llama","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"hi","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2}"""
        },
    };

    /// <summary>Streams as each provider sends them: the events (SSE data or NDJSON lines) of one answer.</summary>
    public static TheoryData<string, string[]> Streams => new()
    {
        {
            "openai",
            [
                """{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}""",
                """{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}""",
            ]
        },
        {
            "anthropic",
            [
                """{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}""",
                """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""",
                """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}""",
                """{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}""",
                """{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}""",
                """{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":2}}""",
                """{"type":"message_stop"}""",
            ]
        },
        {
            "gemini",
            [
                """{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]}}]}""",
                """{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}""",
            ]
        },
        {
            "ollama",
            [
                """{"model":"llama","message":{"role":"assistant","content":"hi"},"done":false}""",
                """{"model":"llama","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2}""",
            ]
        },
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public void ReadCompletion_EveryValueReplacedByAnotherKind_IsReadOrRefusedAsMalformed(string provider, string valid)
    {
        var wire = new ProviderWires().For(provider);
        var original = JsonNode.Parse(valid)!;
        wire.ReadCompletion(Encoding.UTF8.GetBytes(valid), Context);
        var failures = new List<string>();
        var count = 0;

        foreach (var location in Locations(original))
        {
            foreach (var replacement in Replacements)
            {
                count++;
                var body = Encoding.UTF8.GetBytes(Replace(original, location, JsonNode.Parse(replacement)).ToJsonString());
                try
                {
                    wire.ReadCompletion(body, Context);
                }
                catch (Exception exception) when (exception is JsonException or InvalidOperationException)
                {
                    // The adapter's "malformed JSON": 502 and the next deployment.
                }
                catch (Exception exception)
                {
                    failures.Add($"{Describe(location)} = {replacement} → {exception.GetType().Name}: {exception.Message}");
                }
            }
        }

        Assert.True(count >= 100, $"only {count} answers");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count}:\n" + string.Join('\n', failures.Take(30)));
    }

    [Theory]
    [MemberData(nameof(Streams))]
    public async Task ReadStream_EveryValueOfEveryEventReplacedByAnotherKind_IsReadOrRefusedAsABrokenStream(string provider, string[] events)
    {
        var wire = new ProviderWires().For(provider);
        await ReadAllAsync(wire, provider, events);
        var failures = new List<string>();
        var count = 0;

        for (var e = 0; e < events.Length; e++)
        {
            var original = JsonNode.Parse(events[e])!;
            foreach (var location in Locations(original))
            {
                foreach (var replacement in Replacements)
                {
                    count++;
                    var mutated = events.ToArray();
                    mutated[e] = Replace(original, location, JsonNode.Parse(replacement)).ToJsonString();
                    try
                    {
                        await ReadAllAsync(wire, provider, mutated);
                    }
                    catch (Exception exception) when (exception is JsonException or InvalidOperationException or IOException or ProviderStreamException)
                    {
                        // The adapter's broken or malformed stream: failover before the first byte, an error event after it.
                    }
                    catch (Exception exception)
                    {
                        failures.Add($"event {e}{Describe(location)} = {replacement} → {exception.GetType().Name}: {exception.Message}");
                    }
                }
            }
        }

        Assert.True(count >= 50, $"only {count} streams");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count}:\n" + string.Join('\n', failures.Take(30)));
    }

    private static async Task ReadAllAsync(IProviderWire wire, string provider, string[] events)
    {
        var text = provider == "ollama"
            ? string.Concat(events.Select(e => e + "\n"))
            : string.Concat(events.Select(e => $"data: {e}\n\n")) + (provider == "openai" ? "data: [DONE]\n\n" : string.Empty);
        using var body = new MemoryStream(Encoding.UTF8.GetBytes(text));
        await foreach (var _ in wire.ReadStreamAsync(body, Context, CancellationToken.None))
        {
        }
    }
}
