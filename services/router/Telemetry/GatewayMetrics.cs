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
    private readonly Histogram<double> _overhead;
    private readonly Histogram<long> _genAiTokens;
    private readonly Histogram<double> _genAiDuration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Counter<long> _screening;
    private readonly Counter<long> _piiFindings;

    public GatewayMetrics(IMeterFactory meters, Routing.DeploymentDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(directory);
        var meter = meters.Create(MeterName);
        // 0 closed, 1 half-open, 2 open (3 isolated): alert on ai_provider_circuit_breaker_state == 2.
        meter.CreateObservableGauge("ai_provider_circuit_breaker_state", () => directory.Cached.Select(d => new Measurement<int>(
            d.BreakerState switch { "closed" => 0, "half-open" => 1, "open" => 2, _ => 3 },
            new KeyValuePair<string, object?>("provider", d.Provider), new KeyValuePair<string, object?>("deployment", d.Id))),
            description: "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open, 3 isolated.");
        _overhead = meter.CreateHistogram<double>("aimesh_gateway_overhead_seconds", unit: "s", description: "Time spent in AiMesh itself, the provider's time excluded.");
        // OpenTelemetry GenAI semantic conventions.
        _genAiTokens = meter.CreateHistogram<long>("gen_ai.client.token.usage", unit: "{token}", description: "Tokens used per request.");
        _genAiDuration = meter.CreateHistogram<double>("gen_ai.client.operation.duration", unit: "s", description: "Duration of GenAI operations.");
        _timeToFirstToken = meter.CreateHistogram<double>("gen_ai.server.time_to_first_token", unit: "s", description: "Time to the first streamed chunk.");
        _requests = meter.CreateCounter<long>("ai_provider_requests", description: "Provider attempts by outcome.");
        _latency = meter.CreateHistogram<double>("ai_provider_latency_seconds", description: "Provider attempt latency in seconds.");
        _cost = meter.CreateCounter<double>("ai_provider_cost_usd", description: "Cost of provider calls in USD.");
        _tokens = meter.CreateCounter<long>("ai_provider_tokens", description: "Tokens by direction (input/output).");
        _rejections = meter.CreateCounter<long>("aimesh_quota_rejections", description: "Requests refused by rate limits or budgets.");
        _cacheHits = meter.CreateCounter<long>("aimesh_cache_hits", description: "Requests answered from the response cache.");
        _cacheMisses = meter.CreateCounter<long>("aimesh_cache_misses", description: "Cacheable requests the cache could not answer.");
        _screening = meter.CreateCounter<long>("aimesh_prompt_screening", description: "Screened requests by verdict (clean, flagged, blocked).");
        _piiFindings = meter.CreateCounter<long>("aimesh_pii_findings", description: "Personal data or secrets found in prompts, by kind and action (redacted, blocked).");
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

    public void Overhead(double seconds) => _overhead.Record(seconds);

    public void Operation(string provider, string model, double seconds, int inputTokens, int outputTokens)
    {
        var tags = new TagList { { "gen_ai.operation.name", "chat" }, { "gen_ai.system", provider }, { "gen_ai.request.model", model } };
        _genAiDuration.Record(seconds, tags);
        var input = tags;
        input.Add("gen_ai.token.type", "input");
        _genAiTokens.Record(inputTokens, input);
        var output = tags;
        output.Add("gen_ai.token.type", "output");
        _genAiTokens.Record(outputTokens, output);
    }

    public void FirstToken(string provider, string model, double seconds) =>
        _timeToFirstToken.Record(seconds, new TagList { { "gen_ai.system", provider }, { "gen_ai.request.model", model } });

    public void Rejected(string reason) => _rejections.Add(1, new TagList { { "reason", reason } });

    public void Cache(bool hit) => (hit ? _cacheHits : _cacheMisses).Add(1);

    public void Screened(string verdict) => _screening.Add(1, new TagList { { "verdict", verdict } });

    public void PiiFound(string kind, string action, int count) => _piiFindings.Add(count, new TagList { { "kind", kind }, { "action", action } });
}
