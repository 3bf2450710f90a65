using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AiMesh.Tests.Tenancy;

/// <summary>Tenants and virtual keys through the admin API, and what a key may then do.</summary>
public sealed class VirtualKeyTests
{
    private static async Task<(string Key, JsonNode Details)> CreateKeyAsync(HttpClient admin, string tenant, object? body = null)
    {
        using var response = await admin.PostAsJsonAsync($"/admin/tenants/{tenant}/keys", body ?? new { name = "ci" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<JsonNode>())!;
        return (created["key"]!.GetValue<string>(), created["details"]!);
    }

    private static async Task CreateTenantAsync(HttpClient admin, object body)
    {
        using var response = await admin.PostAsJsonAsync("/admin/tenants", body);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task NewKey_IsShownOnce_WorksForItsTenant_AndIsStoredOnlyAsAHash()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var admin = gateway.CreateClient();
        await CreateTenantAsync(admin, new { id = "acme", name = "Acme Corp" });

        var (key, details) = await CreateKeyAsync(admin, "acme");
        using var tenantClient = gateway.CreateClient(key);
        using var chat = await tenantClient.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var listing = await admin.GetStringAsync("/admin/tenants/acme/keys");

        Assert.StartsWith("sk-aimesh-", key, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.DoesNotContain(key, listing, StringComparison.Ordinal);
        Assert.Contains(key[^4..], listing, StringComparison.Ordinal);
        Assert.Null(details["hash"]);
        var usage = await Gateway.WaitForUsageAsync(admin, 1, "?groupBy=tenant,key");
        var row = Assert.Single(usage["rows"]!.AsArray())!;
        Assert.Equal("acme", row["tenant"]?.GetValue<string>());
        Assert.Equal(details["id"]!.GetValue<string>(), row["key"]?.GetValue<string>());
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={gateway.DatabasePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM state WHERE CAST(value AS TEXT) LIKE $key";
        command.Parameters.AddWithValue("$key", $"%{key}%");
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task RevokedKey_IsRefusedAtOnce()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var admin = gateway.CreateClient();
        await CreateTenantAsync(admin, new { id = "acme" });
        var (key, details) = await CreateKeyAsync(admin, "acme");
        using var tenantClient = gateway.CreateClient(key);
        using var before = await tenantClient.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        using var revoke = await admin.DeleteAsync($"/admin/keys/{details["id"]!.GetValue<string>()}");
        using var after = await tenantClient.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    [Fact]
    public async Task ExpiredKey_IsRefused()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake), configure: b => b.Services.AddSingleton<TimeProvider>(time));
        using var admin = gateway.CreateClient();
        await CreateTenantAsync(admin, new { id = "acme" });
        var (key, _) = await CreateKeyAsync(admin, "acme", new { expiresAt = "2026-11-23T13:00:00Z" });
        using var tenantClient = gateway.CreateClient(key);
        using var before = await tenantClient.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        time.Advance(TimeSpan.FromHours(2));
        using var after = await tenantClient.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    [Fact]
    public async Task TenantKey_CannotUseTheAdminApiOrOtherModels()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var admin = gateway.CreateClient();
        await CreateTenantAsync(admin, new { id = "acme", allowedModels = new[] { "gpt-4o-mini" } });
        var (key, _) = await CreateKeyAsync(admin, "acme");
        using var tenantClient = gateway.CreateClient(key);

        using var adminAttempt = await tenantClient.GetAsync("/admin/usage");
        using var otherModel = await tenantClient.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(model: "gpt-4o"));
        using var pinAttempt = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
        pinAttempt.Headers.Add("x-aimesh-deployment", "openai");
        using var pinned = await tenantClient.SendAsync(pinAttempt);

        Assert.Equal(HttpStatusCode.Forbidden, adminAttempt.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, otherModel.StatusCode);
        Assert.Equal("model_not_allowed", (await otherModel.Content.ReadFromJsonAsync<JsonNode>())?["error"]?["code"]?.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, pinned.StatusCode);
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task KeyBudget_IsEnforcedOnTopOfTheTenants()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["AiMesh:Deployments:0:Id"] = "priced",
            ["AiMesh:Deployments:0:Provider"] = "openai-compatible",
            ["AiMesh:Deployments:0:BaseUrl"] = fake.BaseUrl,
            ["AiMesh:Deployments:0:Model"] = "gpt-4o-mini",
            ["AiMesh:Deployments:0:InputPricePerMillion"] = "0",
            ["AiMesh:Deployments:0:OutputPricePerMillion"] = "1000",
        }, configure: b => b.Services.AddSingleton<TimeProvider>(time));
        fake.Reply = "one two three four five";
        var cost = 5 * 1000m / 1_000_000m;
        using var admin = gateway.CreateClient();
        await CreateTenantAsync(admin, new { id = "acme" });
        var (limited, limitedDetails) = await CreateKeyAsync(admin, "acme", new { limits = new { dailyBudgetUsd = 2 * cost } });
        var (unlimited, _) = await CreateKeyAsync(admin, "acme");
        var body = Gateway.ChatBody();
        body["max_tokens"] = 5;
        using var limitedClient = gateway.CreateClient(limited);
        using var unlimitedClient = gateway.CreateClient(unlimited);

        var statuses = new List<HttpStatusCode>();
        string? deniedMessage = null;
        for (var i = 0; i < 3; i++)
        {
            using var response = await limitedClient.PostAsJsonAsync("/v1/chat/completions", body);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                deniedMessage = (await response.Content.ReadFromJsonAsync<JsonNode>())?["error"]?["message"]?.GetValue<string>();
            }
        }

        using var otherKey = await unlimitedClient.PostAsJsonAsync("/v1/chat/completions", body);
        var keyQuota = await admin.GetFromJsonAsync<JsonNode>($"/admin/keys/{limitedDetails["id"]!.GetValue<string>()}/quota");
        var tenantQuota = await admin.GetFromJsonAsync<JsonNode>("/admin/tenants/acme/quota");

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
        Assert.StartsWith($"Key '{limitedDetails["id"]!.GetValue<string>()}': Daily budget", deniedMessage, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, otherKey.StatusCode);
        Assert.Equal(2 * cost, keyQuota?["spentTodayUsd"]?.GetValue<decimal>());
        Assert.Equal(3 * cost, tenantQuota?["spentTodayUsd"]?.GetValue<decimal>());
        Assert.Equal(0, tenantQuota?["openReservations"]?.GetValue<int>());
    }

    [Fact]
    public async Task TenantLimits_FromTheAdminApi_ApplyToItsKeys()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake), configure: b => b.Services.AddSingleton<TimeProvider>(time));
        using var admin = gateway.CreateClient();
        await CreateTenantAsync(admin, new { id = "small", limits = new { requestsPerMinute = 1 } });
        var (key, _) = await CreateKeyAsync(admin, "small");
        using var client = gateway.CreateClient(key);

        using var first = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        using var second = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("1", second.Headers.GetValues("x-ratelimit-limit-requests").Single());
    }

    [Theory]
    [InlineData("{\"id\": \"Bad Id!\"}")]
    [InlineData("{\"id\": \"\"}")]
    [InlineData("{\"id\": \"ok\", \"limits\": {\"requestsPerMinute\": -5}}")]
    [InlineData("{\"id\": \"ok\", \"allowedModels\": [\"\"]}")]
    public async Task CreateTenant_WithInvalidInput_Returns400Problem(string body)
    {
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?> { ["OPENAI_BASE_URL"] = "http://127.0.0.1:1/v1" });
        using var admin = gateway.CreateClient();

        using var response = await admin.PostAsync("/admin/tenants", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Tenants_CanBeListedUpdatedAndDeleted_AndDeletingRevokesTheirKeys()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var admin = gateway.CreateClient();
        await CreateTenantAsync(admin, new { id = "a" });
        await CreateTenantAsync(admin, new { id = "b" });
        using var duplicate = await admin.PostAsJsonAsync("/admin/tenants", new { id = "a" });
        var (key, _) = await CreateKeyAsync(admin, "b");

        using var update = await admin.PutAsJsonAsync("/admin/tenants/a", new { name = "Renamed" });
        var list = await admin.GetFromJsonAsync<JsonArray>("/admin/tenants");
        using var delete = await admin.DeleteAsync("/admin/tenants/b");
        using var missing = await admin.GetAsync("/admin/tenants/b");
        using var tenantClient = gateway.CreateClient(key);
        using var afterDelete = await tenantClient.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("Renamed", (await update.Content.ReadFromJsonAsync<JsonNode>())?["name"]?.GetValue<string>());
        Assert.Equal(["a", "b"], list!.Select(t => t!["id"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, afterDelete.StatusCode);
    }
}
