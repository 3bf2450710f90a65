using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.CostLedger;
using AiMesh.Testing.Dapr;
using Grpc.Core;

namespace AiMesh.Tests.Dapr;

/// <summary>
/// The app side of Dapr in cost-ledger, through its real ASP.NET Core pipeline: what daprd reads at
/// start-up (/dapr/subscribe, /dapr/config), CloudEvent delivery of usage events, and the quota
/// actor's method route, with state going to the fake sidecar.
/// </summary>
public sealed class CostLedgerDaprAppTests
{
    private static readonly DateTimeOffset At = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    // What Dapr's actor clients send and read for non-remoting calls (JsonSerializerDefaults.Web).
    private static readonly JsonSerializerOptions ActorJson = new(JsonSerializerDefaults.Web);

    private static UsageEvent Usage(string requestId, string tenant = "t1") => new()
    {
        RequestId = requestId,
        TenantId = tenant,
        Model = "gpt-4o-mini",
        DeploymentId = "openai",
        Provider = "openai",
        PromptTokens = 100,
        CompletionTokens = 20,
        CostUsd = 0.000027m,
        LatencyMs = 412.5,
        Status = 200,
        Timestamp = At,
    };

    private static StringContent CloudEvent(UsageEvent usage)
    {
        var envelope = new JsonObject
        {
            ["specversion"] = "1.0",
            ["id"] = Guid.NewGuid().ToString(),
            ["source"] = "router",
            ["type"] = "com.dapr.event.sent",
            ["topic"] = Topics.Usage,
            ["pubsubname"] = Components.PubSub,
            ["datacontenttype"] = "application/json",
            ["data"] = JsonSerializer.SerializeToNode(usage, AiMeshJson.Options),
        };
        return new StringContent(envelope.ToJsonString(), Encoding.UTF8, "application/cloudevents+json");
    }

    private static async Task<string> UsageRouteAsync(HttpClient app)
    {
        var subscriptions = await app.GetFromJsonAsync<JsonArray>("/dapr/subscribe");
        var usage = Assert.Single(subscriptions!, s => s?["topic"]?.GetValue<string>() == Topics.Usage)!;
        return "/" + usage["route"]!.GetValue<string>().TrimStart('/');
    }

    private static JsonNode? DayRow(FakeDaprSidecar sidecar, string tenant = "t1") =>
        sidecar.State.GetJson(FakeDaprSidecar.StateStoreName, $"ledger||day||{At.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}")?["rows"]?[$"{tenant}||openai|openai|gpt-4o-mini"];

    [Fact]
    public async Task DaprSubscribe_ListsUsageTopicWithDeadLetterAndRoute()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();

        var subscriptions = await app.GetFromJsonAsync<JsonArray>("/dapr/subscribe");

        var usage = Assert.Single(subscriptions!, s => s?["topic"]?.GetValue<string>() == "usage")!;
        Assert.Equal("pubsub", usage["pubsubName"]?.GetValue<string>());
        Assert.Equal("usage-deadletter", usage["deadLetterTopic"]?.GetValue<string>());
        Assert.Equal("events/usage/UsageLedger", usage["route"]?.GetValue<string>().TrimStart('/'));
    }

    [Fact]
    public async Task UsageRoute_CloudEvent_RecordsLedgerEntryInSidecarState()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();
        var route = await UsageRouteAsync(app);

        using var response = await app.PostAsync(route, CloudEvent(Usage("req-1")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("SUCCESS", (await response.Content.ReadFromJsonAsync<JsonObject>())?["status"]?.GetValue<string>());
        var record = sidecar.State.GetJson(FakeDaprSidecar.StateStoreName, "ledger||usage||req-1");
        Assert.Equal("t1", record?["tenantId"]?.GetValue<string>());
        Assert.Equal(100, record?["promptTokens"]?.GetValue<int>());
        var row = DayRow(sidecar);
        Assert.Equal(1, row?["requests"]?.GetValue<long>());
        Assert.Equal(100, row?["promptTokens"]?.GetValue<long>());
        Assert.Equal(20, row?["completionTokens"]?.GetValue<long>());
        Assert.Equal(0.000027m, row?["costUsd"]?.GetValue<decimal>());
    }

    [Fact]
    public async Task UsageRoute_SameEventDeliveredTwice_CountsOnce()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();
        var route = await UsageRouteAsync(app);

        using var first = await app.PostAsync(route, CloudEvent(Usage("req-1")));
        using var again = await app.PostAsync(route, CloudEvent(Usage("req-1")));
        using var other = await app.PostAsync(route, CloudEvent(Usage("req-2")));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        var row = DayRow(sidecar);
        Assert.Equal(2, row?["requests"]?.GetValue<long>());
        Assert.Equal(200, row?["promptTokens"]?.GetValue<long>());
    }

    /// <summary>A handler that throws (here: the state store is unavailable) must answer non-2xx and not DROP, so Dapr retries.</summary>
    [Fact]
    public async Task UsageRoute_HandlerThrows_AnswersRetryableFailureThenRecordsOnRedelivery()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();
        var route = await UsageRouteAsync(app);
        sidecar.FailNext("ExecuteStateTransaction", 1, StatusCode.Unavailable, "redis: connection refused");

        using var failed = await app.PostAsync(route, CloudEvent(Usage("req-1")));
        var failedBody = await failed.Content.ReadAsStringAsync();
        using var redelivered = await app.PostAsync(route, CloudEvent(Usage("req-1")));

        Assert.False(failed.IsSuccessStatusCode, $"answered {(int)failed.StatusCode}: {failedBody}");
        Assert.NotEqual(HttpStatusCode.NotFound, failed.StatusCode);
        Assert.DoesNotContain("DROP", failedBody, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, redelivered.StatusCode);
        Assert.Equal(1, DayRow(sidecar)?["requests"]?.GetValue<long>());
    }

    /// <summary>
    /// Two replicas of cost-ledger record the same day at once: the one that loses the race on the
    /// day's totals must read again and retry (the ledger's conflict loop), not fail the delivery.
    /// </summary>
    [Fact]
    public async Task UsageRoute_OtherWriterWinsDayTotalsRace_RetriesAndCountsBoth()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();
        var route = await UsageRouteAsync(app);
        var dayKey = $"ledger||day||{At.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";
        // Between this handler's read of the (absent) day totals and its transaction, another replica records req-0.
        sidecar.OnNext("ExecuteStateTransaction", _ => sidecar.State.Set(
            FakeDaprSidecar.StateStoreName,
            dayKey,
            """{"rows":{"t1||openai|openai|gpt-4o-mini":{"tenant":"t1","provider":"openai","deployment":"openai","model":"gpt-4o-mini","requests":1,"cacheHits":0,"promptTokens":100,"completionTokens":20,"costUsd":0.000027}}}"""));

        using var response = await app.PostAsync(route, CloudEvent(Usage("req-1")));

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"answered {(int)response.StatusCode}: {body}");
        var row = DayRow(sidecar);
        Assert.Equal(2, row?["requests"]?.GetValue<long>());
        Assert.Equal(200, row?["promptTokens"]?.GetValue<long>());
        Assert.NotNull(sidecar.State.GetJson(FakeDaprSidecar.StateStoreName, "ledger||usage||req-1"));
    }

    [Fact]
    public async Task UsageRoute_BodyIsNotAnEvent_AnswersDrop()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();
        var route = await UsageRouteAsync(app);

        using var response = await app.PostAsync(route, new StringContent("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"t\",\"datacontenttype\":\"application/json\",\"data\":\"not an event\"}", Encoding.UTF8, "application/cloudevents+json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("DROP", (await response.Content.ReadFromJsonAsync<JsonObject>())?["status"]?.GetValue<string>());
        Assert.Empty(sidecar.State.Keys(FakeDaprSidecar.StateStoreName));
    }

    [Fact]
    public async Task DaprConfig_ListsQuotaActor()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();

        var config = await app.GetFromJsonAsync<JsonObject>("/dapr/config");

        Assert.Contains("QuotaActor", config!["entities"]!.AsArray().Select(e => e?.GetValue<string>()));
    }

    /// <summary>What daprd sends for a non-remoting call: PUT with the single argument as the JSON body; the method name is the C# name.</summary>
    [Fact]
    public async Task QuotaActorRoute_ReserveAsync_ReturnsAllowedDecisionAndStoresActorState()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(sidecar);
        using var app = ledger.CreateClient();

        using var response = await app.PutAsJsonAsync(
            "/actors/QuotaActor/t1/method/ReserveAsync",
            new QuotaReservation("req-1", EstimatedTokens: 150, EstimatedCostUsd: 0.001m),
            ActorJson);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"answered {(int)response.StatusCode}: {body}");
        var decision = JsonSerializer.Deserialize<QuotaDecision>(body, ActorJson)!;
        Assert.True(decision.Allowed);
        Assert.Equal(600, decision.LimitRequests);
        Assert.Equal(599, decision.RemainingRequests);
        Assert.Equal(1_000_000 - 150, decision.RemainingTokens);
        var state = sidecar.GetActorState("QuotaActor", "t1", "quota");
        Assert.NotNull(state);
        Assert.Equal(1, state["hourRequests"]?.GetValue<int>());
        Assert.NotNull(state["reservations"]?["req-1"]);
        Assert.Contains(sidecar.HttpCalls, c => c.Method == "GET" && c.Path == "/v1.0/actors/QuotaActor/t1/state/quota");
    }
}
