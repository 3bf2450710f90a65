using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;
using AiMesh.Router.Caching;
using BenchmarkDotNet.Attributes;

namespace AiMesh.Bench.Micro;

/// <summary>
/// SSE translation between the two forms of an answer: replaying a cached completion as
/// chunks (a streamed cache hit) and assembling a stream's chunks into a completion (to cache it).
/// </summary>
[MemoryDiagnoser]
public class StreamBenchmarks
{
    private readonly JsonElement _completion = JsonSerializer.Deserialize<JsonElement>(FakeUpstream.Completion);
    private readonly JsonElement _usage = JsonSerializer.SerializeToElement(new Usage { PromptTokens = 12, CompletionTokens = 6, TotalTokens = 18 });
    private readonly List<string> _chunks = Encoding.UTF8.GetString(FakeUpstream.Stream)
        .Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
        .Select(e => e["data: ".Length..])
        .Where(d => d != "[DONE]" && !d.Contains("\"choices\":[]", StringComparison.Ordinal))
        .ToList();

    [Benchmark]
    public int Replay()
    {
        var bytes = 0;
        foreach (var chunk in CompletionStreams.Replay(_completion, _usage))
        {
            bytes += Encoding.UTF8.GetByteCount(chunk);
        }

        return bytes;
    }

    [Benchmark]
    public JsonObject Assemble() => CompletionStreams.Assemble(_chunks);
}
