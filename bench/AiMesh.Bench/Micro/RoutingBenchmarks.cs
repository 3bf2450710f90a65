using AiMesh.Contracts;
using AiMesh.Router.Routing;
using BenchmarkDotNet.Attributes;

namespace AiMesh.Bench.Micro;

/// <summary>The routing decision: the candidate deployments for a model, in the order they are tried.</summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private IReadOnlyList<DeploymentInfo> _deployments = [];

    /// <summary>How many deployments the catalog holds.</summary>
    [Params(1, 16)]
    public int Deployments { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var price = new PriceInfo(0.15m, 0.60m, 0.075m);
        var list = new List<DeploymentInfo> { new("openai", "openai", "*", [], 10, true, "closed") { ReservationPrice = price } };
        for (var i = 1; i < Deployments; i++)
        {
            // Half serve the benchmarked alias, one of them with an open breaker.
            var model = i % 2 == 0 ? "gpt-4o-mini" : $"model-{i}";
            list.Add(new DeploymentInfo($"deployment-{i}", "openai-compatible", model, i % 4 == 0 ? ["fast"] : [], i % 3, true, i == 2 ? "open" : "closed") { ReservationPrice = price });
        }

        _deployments = list;
    }

    [Benchmark]
    public IReadOnlyList<DeploymentInfo> Candidates() => DeploymentDirectory.Candidates(_deployments, "gpt-4o-mini");

    [Benchmark]
    public IReadOnlyList<DeploymentInfo> CandidatesByAlias() => DeploymentDirectory.Candidates(_deployments, "fast");
}
