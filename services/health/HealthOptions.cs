namespace AiMesh.Health;

/// <summary>The health service's settings (section <c>AiMesh:Health</c>); thresholds are the seeds' defaults.</summary>
public sealed class HealthOptions
{
    public const string Section = "AiMesh:Health";

    /// <value>Defaults to 2,000 ms: at or above it a deployment is degraded.</value>
    public double DegradedP95Ms { get; set; } = 2000;

    /// <value>Defaults to 5,000 ms: above it a deployment is unhealthy.</value>
    public double UnhealthyP95Ms { get; set; } = 5000;

    /// <value>Defaults to 0.05.</value>
    public double DegradedErrorRate { get; set; } = 0.05;

    /// <value>Defaults to 0.10.</value>
    public double UnhealthyErrorRate { get; set; } = 0.10;

    /// <summary>How far back the passive statistics look.</summary>
    /// <value>Defaults to 5 minutes.</value>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Fewest samples in the window before latency and error rate change a status.</summary>
    /// <value>Defaults to 5.</value>
    public int MinimumSamples { get; set; } = 5;

    /// <summary>How often every deployment is probed with a cheap call; zero turns probing off.</summary>
    /// <value>Defaults to 30 s.</value>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the health snapshot is published to routers and adapters.</summary>
    /// <value>Defaults to 5 s.</value>
    public TimeSpan PublishInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Adaptive timeout = p95 × this, within <see cref="MinTimeout"/>..<see cref="MaxTimeout"/>.</summary>
    /// <value>Defaults to 1.5.</value>
    public double TimeoutMultiplier { get; set; } = 1.5;

    /// <value>Defaults to 5 s.</value>
    public TimeSpan MinTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <value>Defaults to 120 s.</value>
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromSeconds(120);
}
