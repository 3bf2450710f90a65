using AiMesh.Contracts;

namespace AiMesh.Router.Routing;

/// <summary>The names of the routing strategies.</summary>
public static class RoutingStrategies
{
    public const string Priority = "priority";
    public const string Weighted = "weighted";
    public const string LeastLoaded = "least-loaded";
    public const string Fastest = "fastest";
    public const string Cost = "cost";
    public const string Adaptive = "adaptive";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Priority, Weighted, LeastLoaded, Fastest, Cost, Adaptive };
}

/// <summary>What a strategy may look at for one request.</summary>
public sealed record RoutingContext(
    string Model,
    int EstimatedPromptTokens,
    int EstimatedOutputTokens,
    Func<string, DeploymentHealth?> Health,
    Func<string, int> InFlight);

/// <summary>Orders the candidate deployments of one request: the first is tried first, the rest are failovers.</summary>
public interface IRoutingStrategy
{
    string Name { get; }

    IReadOnlyList<DeploymentInfo> Order(IReadOnlyList<DeploymentInfo> candidates, RoutingContext context);
}
