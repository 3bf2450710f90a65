using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Resilience;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;

namespace AiMesh.Tests.Routing;

/// <summary>Active probes and the admin's breaker reset.</summary>
public sealed class ProbeAndBreakerTests
{
    private static Dictionary<string, string?> Settings(params (string Id, string BaseUrl)[] deployments)
    {
        var settings = new Dictionary<string, string?>
        {
            ["AiMesh:Health:ProbeInterval"] = "00:00:00.200",
            ["AiMesh:Health:PublishInterval"] = "00:00:00.100",
        };
        for (var i = 0; i < deployments.Length; i++)
        {
            var at = $"AiMesh:Deployments:{i}";
            settings[$"{at}:Id"] = deployments[i].Id;
            settings[$"{at}:Provider"] = "openai-compatible";
            settings[$"{at}:BaseUrl"] = deployments[i].BaseUrl;
            settings[$"{at}:Model"] = "gpt-4o-mini";
            settings[$"{at}:Priority"] = i.ToString(CultureInfo.InvariantCulture);
            settings[$"{at}:Resilience:MaxRetries"] = "0";
            settings[$"{at}:Resilience:BreakerMinimumThroughput"] = "2";
        }

        return settings;
    }

    private static async Task<JsonNode> DeploymentHealthAsync(HttpClient client, string id, Func<JsonNode, bool> until)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        JsonNode? row = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            var health = await client.GetFromJsonAsync<JsonNode>("/health");
            row = health!["deployments"]!.AsArray().First(d => d!["deploymentId"]!.GetValue<string>() == id)!;
            if (until(row))
            {
                return row;
            }

            await Task.Delay(50);
        }

        throw new Xunit.Sdk.XunitException($"condition not met: {row?.ToJsonString()}");
    }

    [Fact]
    public async Task Probes_ReportReachableAndUnreachableDeployments()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("up", fake.BaseUrl), ("down", "http://127.0.0.1:1/v1")));
        using var client = gateway.CreateClient();

        var up = await DeploymentHealthAsync(client, "up", r => r["lastProbe"] is JsonObject);
        var down = await DeploymentHealthAsync(client, "down", r => r["lastProbe"] is JsonObject);

        Assert.True(up["lastProbe"]!["succeeded"]!.GetValue<bool>());
        Assert.Equal(200, up["lastProbe"]!["status"]!.GetValue<int>());
        Assert.False(down["lastProbe"]!["succeeded"]!.GetValue<bool>());
        Assert.Equal(0, down["lastProbe"]!["status"]!.GetValue<int>());
    }

    [Theory]
    [InlineData(200, true)]
    [InlineData(404, true)]
    [InlineData(401, false)]
    [InlineData(403, false)]
    [InlineData(429, false)]
    [InlineData(503, false)]
    public void ProbeStatus_SaysWhetherTheDeploymentWorks(int status, bool succeeded) =>
        Assert.Equal(succeeded, DeploymentOperations.Succeeded(status));

    [Fact]
    public async Task AdminReset_ClosesAnOpenBreakerAtOnce()
    {
        await using var flaky = await FakeOpenAiProvider.StartAsync();
        await using var backup = await FakeOpenAiProvider.StartAsync();
        flaky.StandingFault = new Fault { Status = 500 };
        var settings = Settings(("flaky", flaky.BaseUrl), ("backup", backup.BaseUrl));
        settings["AiMesh:Health:ProbeInterval"] = "00:00:00";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        }

        var before = await client.GetFromJsonAsync<JsonArray>("/admin/circuit-breakers");
        using var reset = await client.PostAsync("/admin/circuit-breakers/flaky/reset", content: null);
        using var unknown = await client.PostAsync("/admin/circuit-breakers/nope/reset", content: null);
        var after = await client.GetFromJsonAsync<JsonArray>("/admin/circuit-breakers");

        Assert.Equal("open", before!.First(b => b!["deploymentId"]!.GetValue<string>() == "flaky")!["state"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NoContent, reset.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("closed", after!.First(b => b!["deploymentId"]!.GetValue<string>() == "flaky")!["state"]!.GetValue<string>());
    }
}
