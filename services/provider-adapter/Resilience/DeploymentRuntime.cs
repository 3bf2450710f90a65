using AiMesh.ProviderAdapter.Catalog;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace AiMesh.ProviderAdapter.Resilience;

/// <summary>
/// A deployment's runtime state, apart from its immutable config: the Polly pipeline
/// (total timeout → retry → breaker → attempt timeout), the breaker's observable state and
/// the requests in flight.
/// </summary>
public sealed class DeploymentRuntime
{
    private readonly TimeProvider _time;
    private int _inFlight;
    private long _reopensAtTicks;
    private long _adaptiveTimeoutTicks;

    public DeploymentRuntime(DeploymentConfig config, TimeProvider time, Func<double> random)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        _time = time;
        var r = config.Resilience;
        Pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddTimeout(r.TotalTimeout)
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = Math.Max(1, r.MaxRetries),
                ShouldHandle = args => ValueTask.FromResult(r.MaxRetries > 0 && ShouldRetry(args.Outcome, r, time)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(RetryDelay(args.Outcome, args.AttemptNumber, r, time, random)),
                OnRetry = args =>
                {
                    args.Outcome.Result?.Dispose();
                    return ValueTask.CompletedTask;
                },
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = r.BreakerFailureRatio,
                MinimumThroughput = r.BreakerMinimumThroughput,
                SamplingDuration = r.BreakerSamplingDuration,
                BreakDuration = r.BreakerBreakDuration,
                ShouldHandle = args => ValueTask.FromResult(IsFailure(args.Outcome)),
                StateProvider = BreakerState,
                ManualControl = BreakerControl,
                OnOpened = args =>
                {
                    Interlocked.Exchange(ref _reopensAtTicks, (time.GetUtcNow() + args.BreakDuration).UtcTicks);
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(new TimeoutStrategyOptions { TimeoutGenerator = _ => ValueTask.FromResult(AttemptTimeout) })
            .Build();
    }

    /// <summary>
    /// The attempt timeout in force: the health service's adaptive timeout (p95 × 1.5 within its
    /// bounds) when it has one for this deployment, never longer than the configured one.
    /// </summary>
    public TimeSpan AttemptTimeout
    {
        get
        {
            var adaptive = Interlocked.Read(ref _adaptiveTimeoutTicks);
            return adaptive > 0 && adaptive < Config.Resilience.AttemptTimeout.Ticks ? TimeSpan.FromTicks(adaptive) : Config.Resilience.AttemptTimeout;
        }
    }

    /// <summary>Sets (or, with null, clears) the adaptive timeout.</summary>
    public void SetAdaptiveTimeout(TimeSpan? timeout) => Interlocked.Exchange(ref _adaptiveTimeoutTicks, timeout?.Ticks ?? 0);

    public DeploymentConfig Config { get; }

    public ResiliencePipeline<HttpResponseMessage> Pipeline { get; }

    public CircuitBreakerStateProvider BreakerState { get; } = new();

    public CircuitBreakerManualControl BreakerControl { get; } = new();

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// closed, open, half-open or isolated. Polly moves an open breaker to half-open only when the
    /// next call comes; once the break is over we say half-open already, so routing sends that call.
    /// </summary>
    public string BreakerStateName => BreakerState.CircuitState switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open when _time.GetUtcNow().UtcTicks >= Interlocked.Read(ref _reopensAtTicks) => "half-open",
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        CircuitState.Isolated => "isolated",
        _ => "unknown",
    };

    public IDisposable TrackInFlight()
    {
        Interlocked.Increment(ref _inFlight);
        return new Release(this);
    }

    private static bool IsFailure(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } exception
            ? exception is HttpRequestException or TimeoutRejectedException or IOException
            : FailureClassifier.IsTransient(outcome.Result!.StatusCode);

    private static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, ResilienceOptions options, TimeProvider time)
    {
        // An answer over the size limit comes out the same on every try.
        if (!IsFailure(outcome) || outcome.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConfigurationLimitExceeded })
        {
            return false;
        }

        // A provider that asks for a longer pause than we would wait is better failed over now.
        return outcome.Result is not { } response
            || FailureClassifier.RetryAfterSeconds(response, time.GetUtcNow()) is not { } wait
            || wait <= options.RetryMaxDelay.TotalSeconds;
    }

    private static TimeSpan RetryDelay(Outcome<HttpResponseMessage> outcome, int attempt, ResilienceOptions options, TimeProvider time, Func<double> random)
    {
        if (outcome.Result is { } response && FailureClassifier.RetryAfterSeconds(response, time.GetUtcNow()) is { } wait)
        {
            return TimeSpan.FromSeconds(wait);
        }

        // base × 2^attempt, capped, ±10% jitter.
        var exponential = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt);
        var capped = Math.Min(exponential, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.9 + (0.2 * random())));
    }

    private sealed class Release(DeploymentRuntime runtime) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Interlocked.Decrement(ref runtime._inFlight);
            }
        }
    }
}

/// <summary>
/// One runtime per deployment, created on first use: breaker state is isolated per deployment. A
/// deployment changed through the admin API is a new config and gets a new runtime (a closed breaker).
/// </summary>
public sealed class DeploymentRegistry(ProviderCatalog catalog, TimeProvider time)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DeploymentRuntime> _runtimes = new(StringComparer.Ordinal);

    public DeploymentRuntime? Find(string id)
    {
        if (catalog.Find(id) is not { } config)
        {
            return null;
        }

        var runtime = _runtimes.GetOrAdd(id, static (_, state) => new DeploymentRuntime(state.config, state.time, Random.Shared.NextDouble), (config, time));
        if (ReferenceEquals(runtime.Config, config))
        {
            return runtime;
        }

        var replacement = new DeploymentRuntime(config, time, Random.Shared.NextDouble);
        return _runtimes.TryUpdate(id, replacement, runtime) ? replacement : _runtimes[id];
    }

    public IEnumerable<DeploymentRuntime> All => catalog.Deployments.Select(d => Find(d.Id)).OfType<DeploymentRuntime>();
}
