using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.ServiceDefaults;
using AiMesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AiMesh.Tests.EndToEnd;

/// <summary>The embedded host as a whole: settings, health endpoints, quotas, and a ledger that survives restarts.</summary>
public sealed class HostTests
{
    [Fact]
    public async Task Start_WithInvalidBaseUrl_FailsNamingTheSetting()
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["OPENAI_API_KEY"] = Gateway.ProviderKey,
            ["OPENAI_BASE_URL"] = "ftp://example/v1",
        }));

        Assert.Contains("OPENAI_BASE_URL", exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Gateway.ProviderKey, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithInvalidDeploymentList_ReportsEveryProblem()
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["AiMesh:Deployments:0:Id"] = "x",
            ["AiMesh:Deployments:0:Provider"] = "carrier-pigeon",
            ["AiMesh:Deployments:0:BaseUrl"] = "not a url",
            ["AiMesh:Deployments:0:Model"] = "m",
            ["AiMesh:Deployments:1:Id"] = "x",
            ["AiMesh:Deployments:1:Provider"] = "openai",
            ["AiMesh:Deployments:1:BaseUrl"] = "http://127.0.0.1:1/v1",
        }));

        Assert.Contains("AiMesh:Deployments:0:Provider", exception.Message, StringComparison.Ordinal);
        Assert.Contains("AiMesh:Deployments:0:BaseUrl", exception.Message, StringComparison.Ordinal);
        Assert.Contains("AiMesh:Deployments:1:Id", exception.Message, StringComparison.Ordinal);
        Assert.Contains("AiMesh:Deployments:1:Model", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "is not set")]
    [InlineData("short", "at least 16")]
    public async Task Start_WithoutUsableMasterKey_FailsNamingTheSetting(string? key, string expected)
    {
        var exception = await Assert.ThrowsAsync<InvalidSettingException>(() => EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["AIMESH_MASTER_KEY"] = key,
            ["OPENAI_BASE_URL"] = "http://127.0.0.1:1/v1",
        }));

        Assert.Contains("AIMESH_MASTER_KEY", exception.Message, StringComparison.Ordinal);
        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_WithInvalidSetting_ExitsWithCode1AndAClearMessage()
    {
        var host = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "AiMesh.Embedded.exe" : "AiMesh.Embedded");
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            ArgumentList = { "--urls=http://127.0.0.1:0", "--OPENAI_BASE_URL=nope", $"--AiMesh:Embedded:DatabasePath={EmbeddedGateway.NewDatabasePath()}" },
        };
        start.Environment["AIMESH_MASTER_KEY"] = EmbeddedGateway.MasterKey;
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);

        Assert.Equal(1, process.ExitCode);
        Assert.Contains("AiMesh cannot start", await stderr, StringComparison.Ordinal);
        Assert.Contains("OPENAI_BASE_URL 'nope' is not an absolute http(s) URL", await stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", await stderr, StringComparison.Ordinal);
        await stdout;
    }

    [Fact]
    public async Task HealthEndpoints_ReportLiveReadyAndEveryServiceAndDeployment()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var anonymous = gateway.CreateClient(key: null);

        using var live = await anonymous.GetAsync("/health/live");
        using var ready = await anonymous.GetAsync("/health/ready");
        var health = await anonymous.GetFromJsonAsync<JsonNode>("/health");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("healthy", health?["status"]?.GetValue<string>());
        Assert.Equal(["router", "validation", "provider-adapter", "cost-ledger", "health"], health!["services"]!.AsObject().Select(s => s.Key));
        Assert.All(health["services"]!.AsObject(), s => Assert.Equal("healthy", s.Value!.GetValue<string>()));
        var deployment = Assert.Single(health["deployments"]!.AsArray())!;
        Assert.Equal("openai", deployment["deploymentId"]?.GetValue<string>());
        Assert.Equal("closed", deployment["breakerState"]?.GetValue<string>());
    }

    [Fact]
    public async Task Ready_WithoutAnyDeployment_Returns503()
    {
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?>());
        using var anonymous = gateway.CreateClient(key: null);

        using var live = await anonymous.GetAsync("/health/live");
        using var ready = await anonymous.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
    }

    [Fact]
    public async Task Metrics_AfterTraffic_ExposeProviderSeries()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var chat = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        var metrics = await client.GetStringAsync("/metrics");

        Assert.Contains("ai_provider_requests_total{", metrics, StringComparison.Ordinal);
        Assert.Contains("deployment=\"openai\"", metrics, StringComparison.Ordinal);
        Assert.Contains("ai_provider_latency_seconds_bucket{", metrics, StringComparison.Ordinal);
        Assert.Contains("ai_provider_tokens_total{", metrics, StringComparison.Ordinal);
        Assert.Contains("ai_provider_cost_usd_total{", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quota_RequestsPerMinuteExceeded_Returns429WithRetryAfter()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Quotas:Default:RequestsPerMinute"] = "2";
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 15, TimeSpan.Zero));
        await using var gateway = await EmbeddedGateway.StartAsync(settings, configure: b => b.Services.AddSingleton<TimeProvider>(time));
        using var client = gateway.CreateClient();

        using var first = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        using var second = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        using var third = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var error = await third.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        // Two a minute: the request bucket refills one request every 30 s.
        Assert.Equal("30", third.Headers.GetValues("retry-after").Single());
        Assert.Equal("0", third.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Equal("rate_limit_exceeded", error?["error"]?["code"]?.GetValue<string>());
        Assert.Equal(2, fake.Received.Count);

        time.Advance(TimeSpan.FromSeconds(30));
        using var fourth = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        Assert.Equal(HttpStatusCode.OK, fourth.StatusCode);
    }

    [Fact]
    public async Task Ledger_SurvivesARestartOfTheHost()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var database = EmbeddedGateway.NewDatabasePath();
        await using (var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake), database))
        {
            using var client = gateway.CreateClient();
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Gateway.WaitForUsageAsync(client, 1);
        }

        await using (var restarted = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake), database))
        {
            using var client = restarted.CreateClient();
            var before = await client.GetFromJsonAsync<JsonNode>("/admin/usage");
            Assert.Equal(1, before?["total"]?["requests"]?.GetValue<long>());

            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
            var after = await Gateway.WaitForUsageAsync(client, 2);
            var prompt = FakeOpenAiProvider.PromptTokens(fake.Received.First().Body);
            Assert.Equal(2 * Gateway.MiniCost(prompt, fake.CompletionTokens), after["total"]?["costUsd"]?.GetValue<decimal>());
        }
    }

    [Fact]
    public async Task AdminUsage_WithBadRange_Returns400ProblemDetails()
    {
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?> { ["OPENAI_BASE_URL"] = "http://127.0.0.1:1/v1" });
        using var client = gateway.CreateClient();

        using var badDate = await client.GetAsync("/admin/usage?from=yesterday");
        using var reversed = await client.GetAsync("/admin/usage?from=2026-02-01&to=2026-01-01");

        Assert.Equal(HttpStatusCode.BadRequest, badDate.StatusCode);
        Assert.Equal("application/problem+json", badDate.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.BadRequest, reversed.StatusCode);
    }
}
