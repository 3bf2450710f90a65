using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using Microsoft.Extensions.Options;

namespace AiMesh.Health;

/// <summary>One deployment's figures over the rolling window.</summary>
public sealed record StatsSnapshot(long Requests, double ErrorRate, double? P50, double? P95, double? P99, double PerMinute);

/// <summary>
/// Passive health: latency and errors per deployment over a rolling window, fed by usage events
/// (the answered attempt and every failed attempt before it) and by active probes.
/// </summary>
public sealed class DeploymentStats(TimeProvider time, IOptionsMonitor<HealthOptions> options) : IBatchEventConsumer<UsageEvent>
{
    private const int MaxSamples = 4096;
    private readonly ConcurrentDictionary<string, Samples> _byDeployment = new(StringComparer.Ordinal);

    public Task HandleAsync(UsageEvent message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        foreach (var failed in message.FailedAttempts)
        {
            Record(failed.DeploymentId, message.Timestamp, failed.LatencyMs, failed: true);
        }

        // A cache hit or a caller who went away says nothing about the provider.
        if (message.DeploymentId is { } id && message.Cache != "hit" && message.Status != 499)
        {
            Record(id, message.Timestamp, message.LatencyMs, IsProviderFailure(message.Status));
        }

        return Task.CompletedTask;
    }

    public async Task HandleBatchAsync(IReadOnlyList<UsageEvent> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var message in messages)
        {
            await HandleAsync(message, cancellationToken);
        }
    }

    /// <summary>Whether a status says the provider failed (not the caller).</summary>
    public static bool IsProviderFailure(int status) => status >= 500 || status is 408 or 429;

    public void Record(string deploymentId, DateTimeOffset at, double latencyMs, bool failed) =>
        _byDeployment.GetOrAdd(deploymentId, _ => new Samples()).Add(at, latencyMs, failed);

    public StatsSnapshot Snapshot(string deploymentId)
    {
        var window = options.CurrentValue.Window;
        return _byDeployment.TryGetValue(deploymentId, out var samples)
            ? samples.Snapshot(time.GetUtcNow() - window, window)
            : new StatsSnapshot(0, 0, null, null, null, 0);
    }

    private sealed class Samples
    {
        private readonly Queue<(DateTimeOffset At, double LatencyMs, bool Failed)> _queue = new();

        public void Add(DateTimeOffset at, double latencyMs, bool failed)
        {
            lock (_queue)
            {
                _queue.Enqueue((at, latencyMs, failed));
                while (_queue.Count > MaxSamples)
                {
                    _queue.Dequeue();
                }
            }
        }

        public StatsSnapshot Snapshot(DateTimeOffset since, TimeSpan window)
        {
            lock (_queue)
            {
                while (_queue.Count > 0 && _queue.Peek().At < since)
                {
                    _queue.Dequeue();
                }

                if (_queue.Count == 0)
                {
                    return new StatsSnapshot(0, 0, null, null, null, 0);
                }

                var latencies = _queue.Select(s => s.LatencyMs).Order().ToArray();
                var errors = _queue.Count(s => s.Failed);
                return new StatsSnapshot(_queue.Count, (double)errors / _queue.Count,
                    Percentile(latencies, 0.50), Percentile(latencies, 0.95), Percentile(latencies, 0.99), _queue.Count / window.TotalMinutes);
            }
        }

        private static double Percentile(double[] sorted, double p) =>
            sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
