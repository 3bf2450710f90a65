using System.Collections.Concurrent;
using AiMesh.Contracts;

namespace AiMesh.Router.Routing;

/// <summary>Lowest priority number first (the candidates arrive in that order already).</summary>
internal sealed class PriorityStrategy : IRoutingStrategy
{
    public string Name => RoutingStrategies.Priority;

    public IReadOnlyList<DeploymentInfo> Order(IReadOnlyList<DeploymentInfo> candidates, RoutingContext context) => candidates;
}

/// <summary>
/// Smooth weighted round robin per model (nginx's): over any run of requests each deployment
/// gets its weight's share, evenly spread. The others follow in priority order as failovers.
/// </summary>
internal sealed class WeightedStrategy : IRoutingStrategy
{
    private readonly ConcurrentDictionary<string, Dictionary<string, long>> _current = new(StringComparer.Ordinal);

    public string Name => RoutingStrategies.Weighted;

    public IReadOnlyList<DeploymentInfo> Order(IReadOnlyList<DeploymentInfo> candidates, RoutingContext context)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(context);
        if (candidates.Count < 2)
        {
            return candidates;
        }

        var current = _current.GetOrAdd(context.Model, _ => new Dictionary<string, long>(StringComparer.Ordinal));
        DeploymentInfo chosen;
        lock (current)
        {
            var total = 0L;
            DeploymentInfo? best = null;
            foreach (var d in candidates)
            {
                var weight = Math.Max(0, d.Weight);
                total += weight;
                current[d.Id] = current.GetValueOrDefault(d.Id) + weight;
                if (best is null || current[d.Id] > current[best.Id])
                {
                    best = d;
                }
            }

            chosen = best!;
            current[chosen.Id] -= total;
        }

        return [chosen, .. candidates.Where(d => d.Id != chosen.Id)];
    }
}

/// <summary>Fewest requests in flight from this router first; priority breaks ties.</summary>
internal sealed class LeastLoadedStrategy : IRoutingStrategy
{
    public string Name => RoutingStrategies.LeastLoaded;

    public IReadOnlyList<DeploymentInfo> Order(IReadOnlyList<DeploymentInfo> candidates, RoutingContext context) =>
        candidates.OrderBy(d => context.InFlight(d.Id)).ThenBy(d => d.Priority).ToList();
}

/// <summary>Lowest recent p95 latency first; deployments without data come after those with it.</summary>
internal sealed class FastestStrategy : IRoutingStrategy
{
    public string Name => RoutingStrategies.Fastest;

    public IReadOnlyList<DeploymentInfo> Order(IReadOnlyList<DeploymentInfo> candidates, RoutingContext context) =>
        candidates.OrderBy(d => context.Health(d.Id)?.P95LatencyMs ?? double.MaxValue).ThenBy(d => d.Priority).ToList();
}

/// <summary>Cheapest for this request first: price × estimated input and output tokens.</summary>
internal sealed class CostStrategy : IRoutingStrategy
{
    public string Name => RoutingStrategies.Cost;

    public IReadOnlyList<DeploymentInfo> Order(IReadOnlyList<DeploymentInfo> candidates, RoutingContext context) =>
        candidates.OrderBy(d => EstimatedCost(d, context)).ThenBy(d => d.Priority).ToList();

    public static decimal EstimatedCost(DeploymentInfo deployment, RoutingContext context) =>
        deployment.ReservationPrice?.Cost(context.EstimatedPromptTokens, context.EstimatedOutputTokens) ?? 0m;
}

/// <summary>
/// Lowest score first, where score = 0.4 × health (healthy 0, degraded 0.5, unhealthy 1)
/// + 0.3 × p95 / the slowest p95 + 0.2 × in flight / (the busiest + 1) + 0.1 × cost / the dearest.
/// Unknown latency counts as the slowest known; priority breaks ties.
/// </summary>
internal sealed class AdaptiveStrategy : IRoutingStrategy
{
    public const double HealthWeight = 0.4;
    public const double LatencyWeight = 0.3;
    public const double LoadWeight = 0.2;
    public const double CostWeight = 0.1;

    public string Name => RoutingStrategies.Adaptive;

    public IReadOnlyList<DeploymentInfo> Order(IReadOnlyList<DeploymentInfo> candidates, RoutingContext context)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(context);
        var p95 = candidates.ToDictionary(d => d.Id, d => context.Health(d.Id)?.P95LatencyMs);
        var slowest = Math.Max(1, p95.Values.Max() ?? 1);
        var busiest = candidates.Max(d => context.InFlight(d.Id)) + 1;
        var dearest = Math.Max(0.0000001m, candidates.Max(d => CostStrategy.EstimatedCost(d, context)));
        return candidates
            .OrderBy(d => Score(d, context, p95[d.Id] ?? slowest, slowest, busiest, dearest))
            .ThenBy(d => d.Priority)
            .ToList();
    }

    public static double Score(DeploymentInfo d, RoutingContext context, double p95, double slowest, int busiest, decimal dearest)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(context);
        var health = context.Health(d.Id)?.Status switch
        {
            "unhealthy" => 1.0,
            "degraded" => 0.5,
            _ => 0.0,
        };
        return (HealthWeight * health)
            + (LatencyWeight * (p95 / slowest))
            + (LoadWeight * ((double)context.InFlight(d.Id) / busiest))
            + (CostWeight * (double)(CostStrategy.EstimatedCost(d, context) / dearest));
    }
}
