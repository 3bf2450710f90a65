using System.Text.Json;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Routing;

/// <summary>What a request needs of a deployment.</summary>
public sealed record RequestNeeds(bool Vision, bool Tools, bool JsonMode, int Tokens)
{
    public static RequestNeeds Of(ChatCompletionRequest request, int promptTokens, int outputTokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        var vision = request.Messages?.Any(m => m.Content is { ValueKind: JsonValueKind.Array } parts
            && parts.EnumerateArray().Any(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "image_url")) == true;
        var tools = request.Tools is { ValueKind: JsonValueKind.Array } list && list.GetArrayLength() > 0;
        var json = request.ResponseFormat is { ValueKind: JsonValueKind.Object } format
            && format.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() is "json_object" or "json_schema";
        return new RequestNeeds(vision, tools, json, promptTokens + outputTokens);
    }

    public bool AreMetBy(DeploymentCapabilities? capabilities) =>
        capabilities is null || ((!Vision || capabilities.Vision) && (!Tools || capabilities.Tools) && (!JsonMode || capabilities.JsonMode));

    public bool FitIn(DeploymentCapabilities? capabilities) => capabilities?.ContextWindow is not { } window || Tokens <= window;

    public string Describe() => string.Join(", ", new[] { Vision ? "image inputs" : null, Tools ? "tools" : null, JsonMode ? "JSON mode" : null }.OfType<string>());
}

/// <summary>The outcome of planning: the deployments to try, in order, for the model finally chosen; or why there are none.</summary>
public sealed record RoutePlan(string Model, IReadOnlyList<DeploymentInfo> Deployments, string Strategy, RouteProblem Problem);

public enum RouteProblem
{
    None = 0,
    UnknownModel = 1,
    AllBreakersOpen = 2,
    MissingCapability = 3,
    ContextTooLong = 4,
}

/// <summary>
/// Decides where a request goes: the deployments that serve its model with a closed breaker,
/// that can do what it asks (images, tools, JSON mode) and hold it (context window, else the
/// alias's context fallback), healthy ones ordered by the strategy and unhealthy ones last.
/// </summary>
public sealed class RoutePlanner(IEnumerable<IRoutingStrategy> strategies, IOptionsMonitor<RoutingOptions> options, HealthSnapshot health, InFlightTracker inFlight)
{
    private readonly Dictionary<string, IRoutingStrategy> _strategies = strategies.ToDictionary(s => s.Name, StringComparer.Ordinal);

    public RoutePlan Plan(IReadOnlyList<DeploymentInfo> deployments, string model, RequestNeeds needs, int promptTokens, int outputTokens, string? strategyOverride = null)
    {
        ArgumentNullException.ThrowIfNull(deployments);
        ArgumentNullException.ThrowIfNull(needs);
        var settings = options.CurrentValue;
        for (var hop = 0; hop < 4; hop++)
        {
            var strategy = strategyOverride ?? settings.StrategyFor(model);
            var candidates = DeploymentDirectory.Candidates(deployments, model);
            if (candidates.Count == 0)
            {
                var problem = deployments.Any(d => DeploymentDirectory.Serves(d, model)) ? RouteProblem.AllBreakersOpen : RouteProblem.UnknownModel;
                return new RoutePlan(model, [], strategy, problem);
            }

            var capable = candidates.Where(d => needs.AreMetBy(d.Capabilities)).ToList();
            if (capable.Count == 0)
            {
                return new RoutePlan(model, [], strategy, RouteProblem.MissingCapability);
            }

            var fitting = capable.Where(d => needs.FitIn(d.Capabilities)).ToList();
            if (fitting.Count == 0)
            {
                if (settings.Aliases.GetValueOrDefault(model)?.ContextFallback is { } fallback)
                {
                    model = fallback;
                    continue;
                }

                return new RoutePlan(model, [], strategy, RouteProblem.ContextTooLong);
            }

            var context = new RoutingContext(model, promptTokens, outputTokens, health.For, id => inFlight[id]);
            var healthy = fitting.Where(d => health.For(d.Id)?.Status != "unhealthy").ToList();
            var ordered = _strategies[strategy].Order(healthy, context);
            // Unhealthy deployments stay as a last resort: better a slow answer than none.
            return new RoutePlan(model, [.. ordered, .. fitting.Where(d => !healthy.Contains(d))], strategy, RouteProblem.None);
        }

        return new RoutePlan(model, [], settings.StrategyFor(model), RouteProblem.ContextTooLong);
    }
}
