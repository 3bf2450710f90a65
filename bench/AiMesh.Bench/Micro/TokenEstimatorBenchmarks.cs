using AiMesh.Contracts;
using AiMesh.Router.Pipeline;
using BenchmarkDotNet.Attributes;

namespace AiMesh.Bench.Micro;

/// <summary>The token estimate behind every quota reservation.</summary>
[MemoryDiagnoser]
public class TokenEstimatorBenchmarks
{
    private ChatCompletionRequest _request = new();

    [Params(SampleRequests.Small, SampleRequests.Conversation)]
    public string Request { get; set; } = SampleRequests.Small;

    [GlobalSetup]
    public void Setup() => _request = SampleRequests.Request(Request);

    [Benchmark]
    public int Estimate() => TokenEstimator.EstimatePromptTokens(_request) + TokenEstimator.EstimateOutputTokens(_request, 256);
}
