using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.Router.Pipeline;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AiMesh.Tests.Quotas;

/// <summary>Budgets and token limits hold exactly under concurrency, and the ledger agrees with what callers were charged.</summary>
public sealed class BudgetAndLimitTests
{
    /// <summary>Every answer has exactly this many completion tokens (the fake answers one token per word).</summary>
    private const int CompletionTokens = 10;

    /// <summary>USD per million output tokens: one request costs 10 × 1000 / 1e6 = 0.01 USD. Input is free, so the estimate is exact.</summary>
    private const decimal OutputPrice = 1000m;
    private const decimal CostPerRequest = CompletionTokens * OutputPrice / 1_000_000m;

    private static readonly DateTimeOffset MidDay = new(2026, 11, 23, 12, 0, 10, TimeSpan.Zero);

    private static Dictionary<string, string?> PricedDeployment(FakeOpenAiProvider fake, string id = "priced", int index = 0, int priority = 0)
    {
        var at = $"AiMesh:Deployments:{index}";
        return new Dictionary<string, string?>
        {
            [$"{at}:Id"] = id,
            [$"{at}:Provider"] = "openai-compatible",
            [$"{at}:BaseUrl"] = fake.BaseUrl,
            [$"{at}:Model"] = "gpt-4o-mini",
            [$"{at}:Priority"] = priority.ToString(CultureInfo.InvariantCulture),
            [$"{at}:InputPricePerMillion"] = "0",
            [$"{at}:OutputPricePerMillion"] = OutputPrice.ToString(CultureInfo.InvariantCulture),
        };
    }

    private static JsonObject Request(string content = "How much is two plus two?")
    {
        var body = Gateway.ChatBody(content);
        body["max_tokens"] = CompletionTokens;
        return body;
    }

    private static async Task<FakeOpenAiProvider> TenWordFakeAsync()
    {
        var fake = await FakeOpenAiProvider.StartAsync();
        fake.Reply = string.Join(' ', Enumerable.Repeat("word", CompletionTokens));
        return fake;
    }

    private static Task<EmbeddedGateway> StartAsync(Dictionary<string, string?> settings, FakeTimeProvider? time = null) =>
        EmbeddedGateway.StartAsync(settings, configure: b => b.Services.AddSingleton<TimeProvider>(time ?? new FakeTimeProvider(MidDay)));

    private static async Task<List<HttpResponseMessage>> FireAsync(HttpClient client, int count, Func<int, JsonObject>? body = null)
    {
        var requests = Enumerable.Range(0, count).Select(i => client.PostAsJsonAsync("/v1/chat/completions", (body ?? (_ => Request()))(i)));
        return (await Task.WhenAll(requests)).ToList();
    }

    [Fact]
    public async Task DailyBudget_200ConcurrentRequests_ExactlyTheAffordableOnesSucceed()
    {
        const int affordable = 37;
        await using var fake = await TenWordFakeAsync();
        var settings = PricedDeployment(fake);
        settings["AiMesh:Quotas:Default:DailyBudgetUsd"] = (affordable * CostPerRequest).ToString(CultureInfo.InvariantCulture);
        await using var gateway = await StartAsync(settings);
        using var client = gateway.CreateClient();

        var responses = await FireAsync(client, 200);

        var succeeded = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        var denied = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(affordable, succeeded.Count);
        Assert.Equal(200 - affordable, denied.Count);
        var error = await denied[0].Content.ReadFromJsonAsync<JsonNode>();
        Assert.Equal("budget_exceeded", error?["error"]?["code"]?.GetValue<string>());
        Assert.StartsWith("Tenant 'master': Daily budget", error?["error"]?["message"]?.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("resets at 2026-11-24T00:00:00Z", error?["error"]?["message"]?.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotNull(denied[0].Headers.RetryAfter);
        var charged = succeeded.Sum(r => decimal.Parse(r.Headers.GetValues("x-aimesh-cost-usd").Single(), CultureInfo.InvariantCulture));
        var usage = await Gateway.WaitForUsageAsync(client, affordable);
        Assert.Equal(affordable, usage["total"]!["requests"]!.GetValue<long>());
        Assert.Equal(charged, usage["total"]!["costUsd"]!.GetValue<decimal>());
        Assert.Equal(affordable * CostPerRequest, charged);
        Assert.Equal(affordable, fake.Received.Count);
        responses.ForEach(r => r.Dispose());
    }

    [Fact]
    public async Task TokensPerMinute_200ConcurrentRequests_ExactlyTheAllowedOnesSucceed()
    {
        const int allowed = 23;
        await using var fake = await TenWordFakeAsync();
        // A provider whose tokenizer agrees with the gateway's estimate, so reservations are exact.
        fake.PromptTokenCounter = body => TokenEstimator.EstimatePromptTokens(JsonSerializer.Deserialize<ChatCompletionRequest>(body!.ToJsonString(), AiMeshJson.Options)!);
        var perRequest = TokenEstimator.EstimatePromptTokens(JsonSerializer.Deserialize<ChatCompletionRequest>(Request().ToJsonString(), AiMeshJson.Options)!) + CompletionTokens;
        var settings = PricedDeployment(fake);
        settings["AiMesh:Quotas:Default:TokensPerMinute"] = (allowed * perRequest).ToString(CultureInfo.InvariantCulture);
        await using var gateway = await StartAsync(settings);
        using var client = gateway.CreateClient();

        var responses = await FireAsync(client, 200);

        Assert.Equal(allowed, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var denied = responses.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.Equal("rate_limit_exceeded", (await denied.Content.ReadFromJsonAsync<JsonNode>())?["error"]?["code"]?.GetValue<string>());
        Assert.Equal("50", denied.Headers.GetValues("retry-after").Single());
        Assert.Equal(allowed, fake.Received.Count);
        var usage = await Gateway.WaitForUsageAsync(client, allowed);
        Assert.Equal(allowed * perRequest, usage["total"]!["promptTokens"]!.GetValue<long>() + usage["total"]!["completionTokens"]!.GetValue<long>());
        responses.ForEach(r => r.Dispose());
    }

    [Fact]
    public async Task FailedProviderCall_ReleasesItsReservation()
    {
        await using var fake = await TenWordFakeAsync();
        fake.Enqueue(new Fault { Status = 400, ErrorMessage = "bad request" });
        var settings = PricedDeployment(fake);
        settings["AiMesh:Quotas:Default:DailyBudgetUsd"] = CostPerRequest.ToString(CultureInfo.InvariantCulture);
        await using var gateway = await StartAsync(settings);
        using var client = gateway.CreateClient();

        using var failed = await client.PostAsJsonAsync("/v1/chat/completions", Request());
        using var afterwards = await client.PostAsJsonAsync("/v1/chat/completions", Request());
        using var overBudget = await client.PostAsJsonAsync("/v1/chat/completions", Request());
        var quota = await client.GetFromJsonAsync<JsonNode>("/admin/tenants/master/quota");

        Assert.Equal(HttpStatusCode.BadRequest, failed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, afterwards.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, overBudget.StatusCode);
        Assert.Equal(0, quota?["openReservations"]?.GetValue<int>());
        Assert.Equal(CostPerRequest, quota?["spentTodayUsd"]?.GetValue<decimal>());
        Assert.Equal(CostPerRequest, quota?["dailyBudgetUsd"]?.GetValue<decimal>());
    }

    [Fact]
    public async Task Budget_CrossingThresholds_RaisesAlertsVisibleToAdmins()
    {
        await using var fake = await TenWordFakeAsync();
        var settings = PricedDeployment(fake);
        settings["AiMesh:Quotas:Default:DailyBudgetUsd"] = (10 * CostPerRequest).ToString(CultureInfo.InvariantCulture);
        await using var gateway = await StartAsync(settings);
        using var client = gateway.CreateClient();

        for (var i = 0; i < 9; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Request());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        JsonArray? alerts = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10) && (alerts?.Count ?? 0) < 2)
        {
            alerts = (await client.GetFromJsonAsync<JsonNode>("/admin/budget-alerts?month=2026-11"))?.AsArray();
            await Task.Delay(50);
        }

        Assert.Equal([80, 90], alerts!.Select(a => a!["thresholdPercent"]!.GetValue<int>()).Order());
        Assert.All(alerts!, a => Assert.Equal("tenant:master", a!["subject"]!.GetValue<string>()));
        Assert.All(alerts!, a => Assert.Equal("daily", a!["budget"]!.GetValue<string>()));
    }

    [Fact]
    public async Task DeploymentDailyBudget_Exhausted_FailsOverToAnotherDeployment()
    {
        await using var primary = await TenWordFakeAsync();
        await using var secondary = await TenWordFakeAsync();
        var settings = PricedDeployment(primary, "primary");
        foreach (var (key, value) in PricedDeployment(secondary, "secondary", index: 1, priority: 1))
        {
            settings[key] = value;
        }

        settings["AiMesh:Quotas:Deployments:primary:DailyBudgetUsd"] = (2 * CostPerRequest).ToString(CultureInfo.InvariantCulture);
        await using var gateway = await StartAsync(settings);
        using var client = gateway.CreateClient();

        var served = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Request());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            served.Add(response.Headers.GetValues("x-aimesh-deployment").Single());
        }

        var quota = await client.GetFromJsonAsync<JsonNode>("/admin/deployments/primary/quota");
        Assert.Equal(["primary", "primary", "secondary", "secondary"], served);
        Assert.Equal(2 * CostPerRequest, quota?["spentTodayUsd"]?.GetValue<decimal>());
    }

    [Fact]
    public async Task AdminCosts_GroupsByProviderAndTenant_AndFiltersByDeployment()
    {
        await using var fake = await TenWordFakeAsync();
        await using var gateway = await StartAsync(PricedDeployment(fake));
        using var client = gateway.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Request());
        }

        await Gateway.WaitForUsageAsync(client, 3);
        var costs = await client.GetFromJsonAsync<JsonNode>("/admin/costs");
        var byDeployment = await client.GetFromJsonAsync<JsonNode>("/admin/usage?groupBy=deployment,month&deployment=priced");
        using var badGroup = await client.GetAsync("/admin/usage?groupBy=planet");

        var row = Assert.Single(costs!["rows"]!.AsArray())!;
        Assert.Equal("openai-compatible", row["provider"]?.GetValue<string>());
        Assert.Equal("master", row["tenant"]?.GetValue<string>());
        Assert.Null(row["model"]);
        Assert.Equal(3 * CostPerRequest, row["costUsd"]?.GetValue<decimal>());
        var deploymentRow = Assert.Single(byDeployment!["rows"]!.AsArray())!;
        Assert.Equal("priced", deploymentRow["deployment"]?.GetValue<string>());
        Assert.Equal("2026-11", deploymentRow["month"]?.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, badGroup.StatusCode);
    }
}
