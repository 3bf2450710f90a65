using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;

namespace AiMesh.Tests.Routing;

/// <summary>The health service's view drives routing: slow deployments are left aside, breakers recover.</summary>
public sealed class HealthRoutingTests
{
    private static Dictionary<string, string?> Deployments(string strategy, params (string Id, FakeOpenAiProvider Fake)[] deployments)
    {
        var settings = new Dictionary<string, string?>
        {
            ["AiMesh:Routing:DefaultStrategy"] = strategy,
            // Quick health rounds and low thresholds, so a test sees statuses change in well under a second.
            ["AiMesh:Health:PublishInterval"] = "00:00:00.100",
            ["AiMesh:Health:DegradedP95Ms"] = "150",
            ["AiMesh:Health:UnhealthyP95Ms"] = "5000",
            ["AiMesh:Health:MinimumSamples"] = "3",
        };
        for (var i = 0; i < deployments.Length; i++)
        {
            var at = $"AiMesh:Deployments:{i}";
            settings[$"{at}:Id"] = deployments[i].Id;
            settings[$"{at}:Provider"] = "openai-compatible";
            settings[$"{at}:BaseUrl"] = deployments[i].Fake.BaseUrl;
            settings[$"{at}:Model"] = "gpt-4o-mini";
            settings[$"{at}:Priority"] = i.ToString(CultureInfo.InvariantCulture);
            settings[$"{at}:Resilience:MaxRetries"] = "0";
            settings[$"{at}:Resilience:BreakerMinimumThroughput"] = "3";
            settings[$"{at}:Resilience:BreakerBreakDuration"] = "00:00:01";
        }

        return settings;
    }

    private static async Task<string> ChatAsync(HttpClient client, string? pin = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
        if (pin is not null)
        {
            request.Headers.Add("x-aimesh-deployment", pin);
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("x-aimesh-deployment").Single();
    }

    private static async Task<JsonNode> WaitForStatusAsync(HttpClient client, string deployment, string status)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        JsonNode? row = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            var health = await client.GetFromJsonAsync<JsonNode>("/health");
            row = health!["deployments"]!.AsArray().First(d => d!["deploymentId"]!.GetValue<string>() == deployment);
            if (row!["status"]!.GetValue<string>() == status)
            {
                // Let the next snapshot reach the router too.
                await Task.Delay(300);
                return row;
            }

            await Task.Delay(50);
        }

        throw new Xunit.Sdk.XunitException($"{deployment} did not become {status}: {row?.ToJsonString()}");
    }

    [Theory]
    [InlineData("fastest")]
    [InlineData("adaptive")]
    public async Task SlowDeployment_TurnsDegraded_AndTheStrategyMovesTrafficAway(string strategy)
    {
        await using var slow = await FakeOpenAiProvider.StartAsync();
        await using var fast = await FakeOpenAiProvider.StartAsync();
        slow.StandingFault = new Fault { Delay = TimeSpan.FromMilliseconds(300) };
        await using var gateway = await EmbeddedGateway.StartAsync(Deployments(strategy, ("slow", slow), ("fast", fast)));
        using var client = gateway.CreateClient();
        for (var i = 0; i < 4; i++)
        {
            await ChatAsync(client, "slow");
            await ChatAsync(client, "fast");
        }

        var degraded = await WaitForStatusAsync(client, "slow", "degraded");
        var served = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            served.Add(await ChatAsync(client));
        }

        Assert.True(degraded["p95LatencyMs"]!.GetValue<double>() >= 300);
        Assert.NotNull(degraded["timeoutMs"]);
        Assert.All(served, d => Assert.Equal("fast", d));
    }

    [Fact]
    public async Task Breaker_OpensThenClosesAgainThroughHalfOpen()
    {
        await using var flaky = await FakeOpenAiProvider.StartAsync();
        await using var backup = await FakeOpenAiProvider.StartAsync();
        flaky.StandingFault = new Fault { Status = 503 };
        var settings = Deployments("priority", ("flaky", flaky), ("backup", backup));
        // Only the breaker decides here: errors alone must not mark the deployment unhealthy.
        settings["AiMesh:Health:DegradedErrorRate"] = "1";
        settings["AiMesh:Health:UnhealthyErrorRate"] = "1";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("backup", await ChatAsync(client));
        }

        Assert.Equal("open", await BreakerStateAsync(client, "flaky"));

        // Once the break (1 s) is over, a request probes the recovered deployment and closes the breaker.
        // Polled rather than slept for: on a loaded machine the health round that reports it may come late.
        flaky.StandingFault = null;
        var received = flaky.Received.Count;
        var servedBy = await EventuallyAsync(() => ChatAsync(client), served => served == "flaky");
        var state = await EventuallyAsync(() => BreakerStateAsync(client, "flaky"), state => state == "closed");
        var afterwards = await ChatAsync(client);

        Assert.Equal("flaky", servedBy);
        Assert.Equal("closed", state);
        Assert.Equal("flaky", afterwards);
        Assert.True(flaky.Received.Count > received);
    }

    private static async Task<string> BreakerStateAsync(HttpClient client, string deployment)
    {
        var breakers = await client.GetFromJsonAsync<JsonArray>("/admin/circuit-breakers");
        return breakers!.First(b => b!["deploymentId"]!.GetValue<string>() == deployment)!["state"]!.GetValue<string>();
    }

    /// <summary>Calls <paramref name="probe"/> until its result satisfies <paramref name="done"/> (at most 10 s); returns the last result.</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, Func<T, bool> done)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await probe();
        while (!done(result) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
            result = await probe();
        }

        return result;
    }

    [Fact]
    public async Task StatusChange_RaisesAHealthAlertVisibleToAdmins()
    {
        await using var failing = await FakeOpenAiProvider.StartAsync();
        await using var backup = await FakeOpenAiProvider.StartAsync();
        failing.StandingFault = new Fault { Status = 500 };
        await using var gateway = await EmbeddedGateway.StartAsync(Deployments("priority", ("failing", failing), ("backup", backup)));
        using var client = gateway.CreateClient();
        for (var i = 0; i < 4; i++)
        {
            await ChatAsync(client);
        }

        await WaitForStatusAsync(client, "failing", "unhealthy");
        var alerts = await client.GetFromJsonAsync<JsonArray>("/admin/health-alerts");

        var alert = alerts!.First(a => a!["deploymentId"]!.GetValue<string>() == "failing")!;
        Assert.Equal("healthy", alert["from"]!.GetValue<string>());
        Assert.Equal("unhealthy", alert["to"]!.GetValue<string>());
    }

    [Fact]
    public async Task Weighted_DistributesRequestsByWeight_WithinOnePercent()
    {
        await using var a = await FakeOpenAiProvider.StartAsync();
        await using var b = await FakeOpenAiProvider.StartAsync();
        await using var c = await FakeOpenAiProvider.StartAsync();
        var settings = Deployments("weighted", ("a", a), ("b", b), ("c", c));
        settings["AiMesh:Deployments:0:Weight"] = "1";
        settings["AiMesh:Deployments:1:Weight"] = "2";
        settings["AiMesh:Deployments:2:Weight"] = "3";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        var served = new List<string>();
        for (var i = 0; i < 120; i++)
        {
            served.Add(await ChatAsync(client));
        }

        // Smooth weighted round robin is exact over whole cycles of 6: the stated tolerance is ±1%.
        Assert.InRange(served.Count(d => d == "a"), 19, 21);
        Assert.InRange(served.Count(d => d == "b"), 39, 41);
        Assert.InRange(served.Count(d => d == "c"), 59, 61);
    }

    [Fact]
    public async Task Deadline_Exceeded_Returns504()
    {
        await using var slow = await FakeOpenAiProvider.StartAsync();
        slow.StandingFault = new Fault { Delay = TimeSpan.FromSeconds(10) };
        var settings = Deployments("priority", ("slow", slow));
        settings["AiMesh:Router:RequestTimeout"] = "00:00:00.500";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("deadline_exceeded", (await response.Content.ReadFromJsonAsync<JsonNode>())?["error"]?["code"]?.GetValue<string>());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task StrategyHeader_IsForAdminsAndMustNameAStrategy()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Deployments("priority", ("only", fake)));
        using var client = gateway.CreateClient();
        using var unknown = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
        unknown.Headers.Add("x-aimesh-strategy", "coin-flip");
        using var valid = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
        valid.Headers.Add("x-aimesh-strategy", "cost");

        using var unknownResponse = await client.SendAsync(unknown);
        using var validResponse = await client.SendAsync(valid);

        Assert.Equal(HttpStatusCode.BadRequest, unknownResponse.StatusCode);
        Assert.Equal(HttpStatusCode.OK, validResponse.StatusCode);
    }
}
