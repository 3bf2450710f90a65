using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;

namespace AiMesh.Tests.EndToEnd;

/// <summary>Two deployments of one model on two fake providers: failover, retries, breakers, permanent errors.</summary>
public sealed class FailoverTests
{
    private static Dictionary<string, string?> TwoDeployments(FakeOpenAiProvider primary, FakeOpenAiProvider secondary, int maxRetries = 0, string attemptTimeout = "00:00:30")
    {
        var settings = new Dictionary<string, string?>();
        foreach (var (fake, index, id) in new[] { (primary, 0, "primary"), (secondary, 1, "secondary") })
        {
            var at = $"AiMesh:Deployments:{index}";
            settings[$"{at}:Id"] = id;
            settings[$"{at}:Provider"] = "openai-compatible";
            settings[$"{at}:BaseUrl"] = fake.BaseUrl;
            settings[$"{at}:Model"] = "gpt-4o-mini";
            settings[$"{at}:Priority"] = index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"{at}:Resilience:MaxRetries"] = maxRetries.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"{at}:Resilience:RetryBaseDelay"] = "00:00:00.010";
            settings[$"{at}:Resilience:AttemptTimeout"] = attemptTimeout;
            settings[$"{at}:Resilience:BreakerMinimumThroughput"] = "4";
            settings[$"{at}:Resilience:BreakerBreakDuration"] = "00:01:00";
        }

        return settings;
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(529)]
    public async Task Chat_PrimaryFailsTransiently_SecondaryAnswers(int status)
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Status = status };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.Equal("2", response.Headers.GetValues("x-aimesh-attempts").Single());
        Assert.Single(primary.Received);
        Assert.Single(secondary.Received);
    }

    [Fact]
    public async Task Chat_PrimaryTimesOut_SecondaryAnswers()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Delay = TimeSpan.FromSeconds(10) };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary, attemptTimeout: "00:00:00.300"));
        using var client = gateway.CreateClient();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Chat_PrimaryResetsConnection_SecondaryAnswers()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Reset = true };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
    }

    [Fact]
    public async Task Chat_PrimaryAnswersMalformedJson_SecondaryAnswers()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { MalformedJson = true };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_OnlyDeploymentRedirects_Returns502WithoutFollowing(bool stream)
    {
        await using var elsewhere = await FakeOpenAiProvider.StartAsync();
        await using var primary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { RedirectTo = elsewhere.BaseUrl };
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(primary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: stream));
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("redirect", error?["error"]?["message"]?.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("api_error", error?["error"]?["type"]?.GetValue<string>());
        Assert.Single(primary.Received);
        Assert.Empty(elsewhere.Received);
    }

    [Fact]
    public async Task Chat_AnswerOverTheSizeLimit_FailsOverWithoutRetrying()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { OversizedBodyBytes = 1_000_000 };
        var settings = TwoDeployments(primary, secondary, maxRetries: 2);
        settings["AiMesh:ProviderResponses:MaxBodyBytes"] = "65536";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.Single(primary.Received);
    }

    [Fact]
    public async Task Chat_OnlyDeploymentAnswersOverTheSizeLimit_Returns502SayingSo()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { OversizedBodyBytes = 1_000_000 };
        var settings = Gateway.OpenAiSettings(primary);
        settings["AiMesh:ProviderResponses:MaxBodyBytes"] = "65536";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("larger than AiMesh accepts", error?["error"]?["message"]?.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_LineThatNeverEnds_FailsOverOnceOverTheLimit()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { UnendedStreamLineBytes = 64 * 1024 * 1024 };
        var settings = TwoDeployments(primary, secondary);
        settings["AiMesh:ProviderResponses:MaxStreamLineBytes"] = "65536";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.EndsWith("data: [DONE]\n\n", text, StringComparison.Ordinal);
        // The gateway hung up soon after 64 KiB (without the limit it would read all 64 MiB, over 4 s).
        Assert.InRange(primary.UnendedLineBytesSent, 0, 8 * 1024 * 1024);
    }

    [Fact]
    public async Task Chat_AnswerWithByteOrderMark_IsReadLikeAnyOther()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Utf8ByteOrderMark = true };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("primary", response.Headers.GetValues("x-aimesh-deployment").Single());
        var answer = await response.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonNode>();
        Assert.Equal(primary.Reply, answer!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task Chat_PermanentError_IsReturnedWithoutFailover()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Status = 400, ErrorMessage = "Invalid value for 'messages'." };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary, maxRetries: 2));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Invalid value for 'messages'.", error?["error"]?["message"]?.GetValue<string>());
        Assert.Equal("invalid_request_error", error?["error"]?["type"]?.GetValue<string>());
        Assert.Single(primary.Received);
        Assert.Empty(secondary.Received);
    }

    [Fact]
    public async Task Chat_TransientErrorOnce_IsRetriedOnTheSameDeployment()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.Enqueue(new Fault { Status = 503 });
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary, maxRetries: 2));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("primary", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.Equal(2, primary.Received.Count);
        Assert.Empty(secondary.Received);
    }

    [Fact]
    public async Task Chat_RateLimitedWithLongRetryAfter_FailsOverWithoutWaiting()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Status = 429, RetryAfter = "120" };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary, maxRetries: 2));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.Single(primary.Received);
    }

    [Fact]
    public async Task Chat_EveryDeploymentFails_ReturnsTheLastErrorInOpenAiShape()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Status = 500 };
        secondary.StandingFault = new Fault { Status = 429, RetryAfter = "7" };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("7", response.Headers.GetValues("retry-after").Single());
        Assert.Equal("2", response.Headers.GetValues("x-aimesh-attempts").Single());
        Assert.Equal("rate_limit_error", error?["error"]?["type"]?.GetValue<string>());
    }

    [Fact]
    public async Task Breaker_OpensAfterThreshold_AndRoutingSkipsTheDeployment()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Status = 500 };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        for (var i = 0; i < 8; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The breaker opened after 4 failures; the directory refreshes within a second.
        Assert.InRange(primary.Received.Count, 4, 6);
        var health = await client.GetFromJsonAsync<JsonNode>("/health");
        var row = health!["deployments"]!.AsArray().Single(d => d!["deploymentId"]!.GetValue<string>() == "primary")!;
        Assert.Equal("open", row["breakerState"]?.GetValue<string>());
        Assert.Equal("unhealthy", row["status"]?.GetValue<string>());
    }

    [Fact]
    public async Task Stream_PrimaryFailsBeforeFirstByte_SecondaryStreams()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { Status = 503 };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_BreaksAfterFirstByte_EndsWithAnErrorEventAndNoFailover()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { BreakStreamAfterChunks = 2 };
        await using var gateway = await EmbeddedGateway.StartAsync(TwoDeployments(primary, secondary));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.True(events[^1].StartsWith("data: {", StringComparison.Ordinal), $"{response.Headers} {primary.Received.Count} {secondary.Received.Count} {body[^300..]}");
        var last = JsonNode.Parse(events[^1]["data: ".Length..]);
        Assert.Equal("stream_error", last?["error"]?["code"]?.GetValue<string>());
        Assert.DoesNotContain("[DONE]", body, StringComparison.Ordinal);
        Assert.Empty(secondary.Received);
    }
}
