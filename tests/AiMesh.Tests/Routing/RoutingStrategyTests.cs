using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.Router.Routing;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.Routing;

public sealed class RoutingStrategyTests
{
    private static DeploymentInfo Deployment(string id, int priority = 0, int weight = 1, decimal inputPrice = 1m, DeploymentCapabilities? capabilities = null, string model = "m", params string[] aliases) =>
        new(id, "openai", model, aliases, priority, true, "closed")
        {
            Weight = weight,
            ReservationPrice = new PriceInfo(inputPrice, inputPrice, inputPrice),
            Capabilities = capabilities,
        };

    private static RoutingContext Context(Dictionary<string, DeploymentHealth>? health = null, Dictionary<string, int>? inFlight = null) =>
        new("m", 1000, 100, id => health?.GetValueOrDefault(id), id => inFlight?.GetValueOrDefault(id) ?? 0);

    private static DeploymentHealth Health(string id, double p95, string status = "healthy") => new(id, "openai", status, "closed", 100, 0, p95 / 2, p95);

    [Fact]
    public void Weighted_DistributesExactlyByWeightOverWholeCycles()
    {
        var sut = new WeightedStrategy();
        var deployments = new[] { Deployment("a", weight: 1), Deployment("b", weight: 2), Deployment("c", weight: 3) };
        var counts = new Dictionary<string, int>();

        for (var i = 0; i < 600; i++)
        {
            var first = sut.Order(deployments, Context())[0].Id;
            counts[first] = counts.GetValueOrDefault(first) + 1;
        }

        Assert.Equal(100, counts["a"]);
        Assert.Equal(200, counts["b"]);
        Assert.Equal(300, counts["c"]);
    }

    [Fact]
    public void Weighted_SpreadsPicksEvenly_AndKeepsTheOthersAsFailovers()
    {
        var sut = new WeightedStrategy();
        var deployments = new[] { Deployment("a", weight: 1), Deployment("b", weight: 1) };

        var first = sut.Order(deployments, Context());
        var second = sut.Order(deployments, Context());

        Assert.NotEqual(first[0].Id, second[0].Id);
        Assert.Equal(2, first.Count);
    }

    [Fact]
    public void LeastLoaded_PrefersFewestInFlight()
    {
        var ordered = new LeastLoadedStrategy().Order([Deployment("a"), Deployment("b", priority: 1)], Context(inFlight: new() { ["a"] = 3, ["b"] = 1 }));

        Assert.Equal(["b", "a"], ordered.Select(d => d.Id));
    }

    [Fact]
    public void Fastest_PrefersLowestP95_ThenUnknown()
    {
        var health = new Dictionary<string, DeploymentHealth> { ["a"] = Health("a", 900), ["b"] = Health("b", 200) };

        var ordered = new FastestStrategy().Order([Deployment("a"), Deployment("b", priority: 1), Deployment("c")], Context(health));

        Assert.Equal(["b", "a", "c"], ordered.Select(d => d.Id));
    }

    [Fact]
    public void Cost_PrefersCheapestForTheEstimatedTokens()
    {
        var ordered = new CostStrategy().Order([Deployment("dear", inputPrice: 10m), Deployment("cheap", priority: 5, inputPrice: 0.1m)], Context());

        Assert.Equal(["cheap", "dear"], ordered.Select(d => d.Id));
    }

    [Fact]
    public void Adaptive_MovesAwayFromADegradedSlowDeployment()
    {
        var health = new Dictionary<string, DeploymentHealth> { ["a"] = Health("a", 3000, "degraded"), ["b"] = Health("b", 300) };

        var ordered = new AdaptiveStrategy().Order([Deployment("a"), Deployment("b", priority: 1)], Context(health));

        Assert.Equal(["b", "a"], ordered.Select(d => d.Id));
    }

    [Fact]
    public void Adaptive_ScoreFollowsTheDocumentedFormula()
    {
        var health = new Dictionary<string, DeploymentHealth> { ["a"] = Health("a", 500, "degraded") };
        var context = Context(health, new() { ["a"] = 1 });

        var score = AdaptiveStrategy.Score(Deployment("a", inputPrice: 1m), context, p95: 500, slowest: 1000, busiest: 2, dearest: 2 * 1100m / 1_000_000m);

        Assert.Equal((0.4 * 0.5) + (0.3 * 0.5) + (0.2 * 0.5) + (0.1 * 0.5), score, 6);
    }

    private static RoutePlanner Planner(RoutingOptions? options = null, HealthSnapshot? health = null) =>
        new([new PriorityStrategy(), new WeightedStrategy(), new LeastLoadedStrategy(), new FastestStrategy(), new CostStrategy(), new AdaptiveStrategy()],
            new StaticOptions(options ?? new RoutingOptions()), health ?? new HealthSnapshot(), new InFlightTracker());

    [Fact]
    public void Plan_DropsDeploymentsThatLackARequestedCapability()
    {
        var deployments = new[]
        {
            Deployment("text-only", capabilities: new DeploymentCapabilities(Vision: false, Tools: true, JsonMode: true, ContextWindow: null, Embeddings: false)),
            Deployment("vision", priority: 1, capabilities: new DeploymentCapabilities(Vision: true, Tools: true, JsonMode: true, ContextWindow: null, Embeddings: false)),
        };

        var plan = Planner().Plan(deployments, "m", new RequestNeeds(Vision: true, Tools: false, JsonMode: false, Tokens: 10), 10, 0);
        var none = Planner().Plan([deployments[0]], "m", new RequestNeeds(Vision: true, Tools: false, JsonMode: false, Tokens: 10), 10, 0);

        Assert.Equal(["vision"], plan.Deployments.Select(d => d.Id));
        Assert.Equal(RouteProblem.MissingCapability, none.Problem);
    }

    [Fact]
    public void Plan_TooLongForTheContextWindow_FallsBackToTheConfiguredAlias()
    {
        var small = new DeploymentCapabilities(true, true, true, ContextWindow: 1000, Embeddings: false);
        var large = new DeploymentCapabilities(true, true, true, ContextWindow: 100_000, Embeddings: false);
        var deployments = new[] { Deployment("small", capabilities: small, model: "m"), Deployment("large", capabilities: large, model: "m-long") };
        var options = new RoutingOptions { Aliases = { ["m"] = new AliasRouting { ContextFallback = "m-long" } } };

        var plan = Planner(options).Plan(deployments, "m", new RequestNeeds(false, false, false, Tokens: 5000), 4900, 100);
        var withoutFallback = Planner().Plan(deployments, "m", new RequestNeeds(false, false, false, Tokens: 5000), 4900, 100);

        Assert.Equal("m-long", plan.Model);
        Assert.Equal(["large"], plan.Deployments.Select(d => d.Id));
        Assert.Equal(RouteProblem.ContextTooLong, withoutFallback.Problem);
    }

    [Fact]
    public async Task Plan_PutsUnhealthyDeploymentsLast()
    {
        var health = new HealthSnapshot();
        await health.HandleAsync(new DeploymentHealthSnapshot([Health("a", 100, "unhealthy")], DateTimeOffset.UnixEpoch), CancellationToken.None);

        var plan = Planner(health: health).Plan([Deployment("a"), Deployment("b", priority: 1)], "m", new RequestNeeds(false, false, false, 10), 10, 0);

        Assert.Equal(["b", "a"], plan.Deployments.Select(d => d.Id));
    }

    [Fact]
    public async Task HealthSnapshot_IgnoresAnOlderSnapshotDeliveredLate()
    {
        var sut = new HealthSnapshot();
        await sut.HandleAsync(new DeploymentHealthSnapshot([Health("a", 100, "degraded")], DateTimeOffset.UnixEpoch.AddSeconds(10)), CancellationToken.None);
        await sut.HandleAsync(new DeploymentHealthSnapshot([Health("a", 100, "healthy")], DateTimeOffset.UnixEpoch.AddSeconds(5)), CancellationToken.None);

        Assert.Equal("degraded", sut.For("a")?.Status);
    }

    [Fact]
    public void Needs_AreReadFromTheRequest()
    {
        var request = new ChatCompletionRequest
        {
            Model = "m",
            Messages = [new ChatMessage { Role = "user", Content = JsonSerializer.SerializeToElement(new object[] { new { type = "image_url", image_url = new { url = "https://x/y.png" } } }) }],
            Tools = JsonSerializer.SerializeToElement(new[] { new { type = "function" } }),
            ResponseFormat = JsonSerializer.SerializeToElement(new { type = "json_object" }),
        };

        Assert.Equal(new RequestNeeds(true, true, true, 30), RequestNeeds.Of(request, 20, 10));
    }

    [Fact]
    public void Validator_RejectsUnknownStrategiesNamingTheSetting()
    {
        var result = new RoutingOptionsValidator().Validate(null, new RoutingOptions { DefaultStrategy = "random", Aliases = { ["x"] = new AliasRouting { Strategy = "fast" } } });

        Assert.True(result.Failed);
        Assert.Contains("AiMesh:Routing:DefaultStrategy 'random'", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("AiMesh:Routing:Aliases:x:Strategy 'fast'", result.FailureMessage, StringComparison.Ordinal);
    }

    private sealed class StaticOptions(RoutingOptions value) : IOptionsMonitor<RoutingOptions>
    {
        public RoutingOptions CurrentValue => value;

        public RoutingOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<RoutingOptions, string?> listener) => null;
    }
}
