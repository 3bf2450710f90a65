using Microsoft.Extensions.Options;

namespace AiMesh.Router.Routing;

/// <summary>Routing settings (section <c>AiMesh:Routing</c>).</summary>
public sealed class RoutingOptions
{
    public const string Section = "AiMesh:Routing";

    /// <summary>The strategy for models and aliases without one of their own.</summary>
    /// <value>Defaults to <c>priority</c>.</value>
    public string DefaultStrategy { get; set; } = RoutingStrategies.Priority;

    /// <summary>Per model or alias: its strategy and the alias to fall back on when the context window is too small.</summary>
    public Dictionary<string, AliasRouting> Aliases { get; set; } = new(StringComparer.Ordinal);

    public string StrategyFor(string model) => Aliases.GetValueOrDefault(model)?.Strategy ?? DefaultStrategy;
}

public sealed class AliasRouting
{
    public string? Strategy { get; set; }

    /// <summary>A larger-context model or alias to use when no deployment of this one can hold the request.</summary>
    public string? ContextFallback { get; set; }
}

/// <summary>Rejects unknown strategy names and fallbacks that loop, naming the setting.</summary>
internal sealed class RoutingOptionsValidator : IValidateOptions<RoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RoutingOptions options)
    {
        var errors = new List<string>();
        if (!RoutingStrategies.All.Contains(options.DefaultStrategy))
        {
            errors.Add($"{RoutingOptions.Section}:DefaultStrategy '{options.DefaultStrategy}' is not a strategy; use one of: {string.Join(", ", RoutingStrategies.All)}.");
        }

        foreach (var (alias, routing) in options.Aliases)
        {
            if (routing.Strategy is { } strategy && !RoutingStrategies.All.Contains(strategy))
            {
                errors.Add($"{RoutingOptions.Section}:Aliases:{alias}:Strategy '{strategy}' is not a strategy; use one of: {string.Join(", ", RoutingStrategies.All)}.");
            }

            if (routing.ContextFallback == alias)
            {
                errors.Add($"{RoutingOptions.Section}:Aliases:{alias}:ContextFallback must name another model or alias.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
