using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;

namespace AiMesh.Health;

/// <summary>Passive health: latency and errors per deployment over a rolling window, fed by usage events.</summary>
public sealed class DeploymentStats(TimeProvider time) : IEventConsumer<UsageEvent>
{
    /// <summary>How far back the statistics look.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private const int MaxSamples = 2048;
    private readonly ConcurrentDictionary<string, Samples> _byDeployment = new(StringComparer.Ordinal);

    public Task HandleAsync(UsageEvent message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        // A cache hit or a caller who went away says nothing about the provider.
        if (message.DeploymentId is { } id && message.Cache != "hit" && message.Status != 499)
        {
            _byDeployment.GetOrAdd(id, _ => new Samples()).Add(message.Timestamp, message.LatencyMs, message.Status >= 500 || message.Status == 429);
        }

        return Task.CompletedTask;
    }

    public (long Requests, double ErrorRate, double? P50, double? P95) Snapshot(string deploymentId)
    {
        if (!_byDeployment.TryGetValue(deploymentId, out var samples))
        {
            return (0, 0, null, null);
        }

        return samples.Snapshot(time.GetUtcNow() - Window);
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

        public (long, double, double?, double?) Snapshot(DateTimeOffset since)
        {
            lock (_queue)
            {
                while (_queue.Count > 0 && _queue.Peek().At < since)
                {
                    _queue.Dequeue();
                }

                if (_queue.Count == 0)
                {
                    return (0, 0, null, null);
                }

                var latencies = _queue.Select(s => s.LatencyMs).Order().ToArray();
                var errors = _queue.Count(s => s.Failed);
                return (_queue.Count, (double)errors / _queue.Count, Percentile(latencies, 0.50), Percentile(latencies, 0.95));
            }
        }

        private static double Percentile(double[] sorted, double p) =>
            sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
