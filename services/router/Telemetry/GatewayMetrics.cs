using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AiMesh.Router.Telemetry;

/// <summary>The gateway's Prometheus series (exported on /metrics by the OpenTelemetry Prometheus exporter).</summary>
public sealed class GatewayMetrics
{
    public const string MeterName = "AiMesh.Router";

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _latency;
    private readonly Counter<double> _cost;
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _rejections;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;

    public GatewayMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _requests = meter.CreateCounter<long>("ai_provider_requests", description: "Provider attempts by outcome.");
        _latency = meter.CreateHistogram<double>("ai_provider_latency_seconds", description: "Provider attempt latency in seconds.");
        _cost = meter.CreateCounter<double>("ai_provider_cost_usd", description: "Cost of provider calls in USD.");
        _tokens = meter.CreateCounter<long>("ai_provider_tokens", description: "Tokens by direction (input/output).");
        _rejections = meter.CreateCounter<long>("aimesh_quota_rejections", description: "Requests refused by rate limits or budgets.");
        _cacheHits = meter.CreateCounter<long>("aimesh_cache_hits", description: "Requests answered from the response cache.");
        _cacheMisses = meter.CreateCounter<long>("aimesh_cache_misses", description: "Cacheable requests the cache could not answer.");
    }

    public void Attempt(string provider, string deployment, int status, double seconds)
    {
        var tags = new TagList { { "provider", provider }, { "deployment", deployment }, { "status", status } };
        _requests.Add(1, tags);
        _latency.Record(seconds, tags);
    }

    public void Usage(string provider, string deployment, int inputTokens, int outputTokens, decimal costUsd)
    {
        _tokens.Add(inputTokens, new TagList { { "provider", provider }, { "deployment", deployment }, { "type", "input" } });
        _tokens.Add(outputTokens, new TagList { { "provider", provider }, { "deployment", deployment }, { "type", "output" } });
        _cost.Add((double)costUsd, new TagList { { "provider", provider }, { "deployment", deployment } });
    }

    public void Rejected(string reason) => _rejections.Add(1, new TagList { { "reason", reason } });

    public void Cache(bool hit) => (hit ? _cacheHits : _cacheMisses).Add(1);
}
