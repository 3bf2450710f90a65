using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;

namespace AiMesh.Tests.Catalog;

/// <summary>Providers and deployments changed through the admin API, live, with keys encrypted at rest.</summary>
public sealed class DeploymentsAdminTests
{
    private const string ManagedKey = "sk-managed-provider-key-0123456789abcdef";

    private static Dictionary<string, string?> Settings(FakeOpenAiProvider fake, string? encryptionKey = null, string? previousKey = null)
    {
        var settings = Gateway.OpenAiSettings(fake);
        settings["AIMESH_ENCRYPTION_KEY"] = encryptionKey ?? KeyEncryptionTests.KeyOne;
        if (previousKey is not null)
        {
            settings["AIMESH_ENCRYPTION_KEY_PREVIOUS"] = previousKey;
        }

        return settings;
    }

    private static object Backup(FakeOpenAiProvider upstream, string[]? keys = null) => new
    {
        provider = "openai-compatible",
        baseUrl = upstream.BaseUrl,
        model = "team-model",
        apiKeys = keys ?? [ManagedKey],
        inputPricePerMillion = 1.0,
        outputPricePerMillion = 2.0,
    };

    /// <summary>Chats until the router's deployment list (refreshed every second) shows the expected outcome.</summary>
    private static async Task<HttpResponseMessage> ChatUntilAsync(HttpClient client, string model, HttpStatusCode expected)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(model: model));
            if (response.StatusCode == expected || clock.Elapsed > TimeSpan.FromSeconds(10))
            {
                return response;
            }

            response.Dispose();
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task AddedDeployment_ServesAtOnce_WithItsDecryptedKey_AndTheKeyIsNeitherListedNorStoredInClear()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var upstream = await FakeOpenAiProvider.StartAsync();
        upstream.RejectedKeys[ManagedKey] = true;
        var logs = new CapturingLoggerProvider();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(primary), logs: logs);
        using var admin = gateway.CreateClient();

        using var put = await admin.PutAsJsonAsync("/admin/deployments/backup", Backup(upstream));
        var created = await put.Content.ReadAsStringAsync();
        // A 401 for the managed key: neither the answer nor the logs may carry the key.
        using var rejected = await ChatUntilAsync(admin, "team-model", HttpStatusCode.Unauthorized);
        var rejectedBody = await rejected.Content.ReadAsStringAsync();
        upstream.RejectedKeys.Clear();
        upstream.Received.Clear();
        using var chat = await ChatUntilAsync(admin, "team-model", HttpStatusCode.OK);
        var listing = await admin.GetStringAsync("/admin/deployments");

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
        Assert.DoesNotContain(ManagedKey, rejectedBody, StringComparison.Ordinal);
        foreach (var secret in new[] { ManagedKey, KeyEncryptionTests.KeyOne, EmbeddedGateway.MasterKey, Gateway.ProviderKey })
        {
            Assert.DoesNotContain(secret, logs.AllText, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(ManagedKey, await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal("backup", chat.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.Equal($"Bearer {ManagedKey}", upstream.Received.Single().Authorization);
        Assert.DoesNotContain(ManagedKey, created, StringComparison.Ordinal);
        Assert.DoesNotContain(ManagedKey, listing, StringComparison.Ordinal);
        Assert.Contains("sk-…cdef", listing, StringComparison.Ordinal);
        var rows = JsonNode.Parse(listing)!.AsArray();
        Assert.Equal("config", rows.Single(r => r!["id"]!.GetValue<string>() == "openai")!["source"]!.GetValue<string>());
        Assert.Equal("admin", rows.Single(r => r!["id"]!.GetValue<string>() == "backup")!["source"]!.GetValue<string>());
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={gateway.DatabasePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM state WHERE CAST(value AS TEXT) LIKE '%managed-provider-key%'";
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
        command.CommandText = "SELECT COUNT(*) FROM state WHERE CAST(value AS TEXT) LIKE '%v1:%'";
        Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task DisableEnableAndDelete_TakeEffectWithoutRestart()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var upstream = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(primary));
        using var admin = gateway.CreateClient();
        using var put = await admin.PutAsJsonAsync("/admin/deployments/backup", Backup(upstream));

        using var disableConfigured = await admin.PostAsync("/admin/deployments/openai/disable", null);
        using var whileDisabled = await ChatUntilAsync(admin, "gpt-4o-mini", HttpStatusCode.NotFound);
        using var backupWhileDisabled = await ChatUntilAsync(admin, "team-model", HttpStatusCode.OK);
        using var delete = await admin.DeleteAsync("/admin/deployments/backup");
        using var afterDelete = await ChatUntilAsync(admin, "team-model", HttpStatusCode.NotFound);
        using var enableConfigured = await admin.PostAsync("/admin/deployments/openai/enable", null);
        using var whileEnabled = await ChatUntilAsync(admin, "gpt-4o-mini", HttpStatusCode.OK);
        using var deleteConfigured = await admin.DeleteAsync("/admin/deployments/openai");
        using var deleteAgain = await admin.DeleteAsync("/admin/deployments/backup");
        using var disableUnknown = await admin.PostAsync("/admin/deployments/nope/disable", null);

        Assert.Equal(HttpStatusCode.OK, disableConfigured.StatusCode);
        Assert.False((await disableConfigured.Content.ReadFromJsonAsync<JsonNode>())!["enabled"]!.GetValue<bool>());
        Assert.Equal(HttpStatusCode.NotFound, whileDisabled.StatusCode);
        Assert.Equal(HttpStatusCode.OK, backupWhileDisabled.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, afterDelete.StatusCode);
        Assert.Equal(HttpStatusCode.OK, enableConfigured.StatusCode);
        Assert.Equal(HttpStatusCode.OK, whileEnabled.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, deleteConfigured.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, disableUnknown.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, deleteAgain.StatusCode);
    }

    [Fact]
    public async Task KeyRotation_NewKeyAddedThenOldRemoved_NoRequestFails()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var upstream = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(primary));
        using var admin = gateway.CreateClient();
        const string NewKey = "sk-managed-provider-key-NEW-456789abcdef";
        using var first = await admin.PutAsJsonAsync("/admin/deployments/backup", Backup(upstream));
        using var before = await ChatUntilAsync(admin, "team-model", HttpStatusCode.OK);

        using var both = await admin.PutAsJsonAsync("/admin/deployments/backup", Backup(upstream, [ManagedKey, NewKey]));
        var during = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await admin.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(model: "team-model"));
            during.Add(response.StatusCode);
        }

        using var onlyNew = await admin.PutAsJsonAsync("/admin/deployments/backup", Backup(upstream, [NewKey]));
        upstream.Received.Clear();
        using var after = await admin.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(model: "team-model"));

        Assert.Equal(HttpStatusCode.OK, both.StatusCode);
        Assert.All(during, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal($"Bearer {NewKey}", upstream.Received.Single().Authorization);
    }

    [Fact]
    public async Task StoredKeys_SurviveARestart_AndAnEncryptionKeyRotation()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var upstream = await FakeOpenAiProvider.StartAsync();
        var database = EmbeddedGateway.NewDatabasePath();
        await using (var gateway = await EmbeddedGateway.StartAsync(Settings(primary), database))
        {
            using var admin = gateway.CreateClient();
            using var put = await admin.PutAsJsonAsync("/admin/deployments/backup", Backup(upstream));
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        // Rotation: the new key is current, the old one previous; re-encrypt; then the old one can go.
        await using (var gateway = await EmbeddedGateway.StartAsync(Settings(primary, KeyEncryptionTests.KeyTwo, KeyEncryptionTests.KeyOne), database))
        {
            using var admin = gateway.CreateClient();
            using var chat = await ChatUntilAsync(admin, "team-model", HttpStatusCode.OK);
            using var reencrypt = await admin.PostAsync("/admin/provider-keys/reencrypt", null);
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal(HttpStatusCode.OK, reencrypt.StatusCode);
            Assert.Contains("1 stored keys re-encrypted", await reencrypt.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        upstream.Received.Clear();
        await using (var gateway = await EmbeddedGateway.StartAsync(Settings(primary, KeyEncryptionTests.KeyTwo), database))
        {
            using var admin = gateway.CreateClient();
            using var chat = await ChatUntilAsync(admin, "team-model", HttpStatusCode.OK);
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal($"Bearer {ManagedKey}", upstream.Received.Single().Authorization);
        }
    }

    [Theory]
    [InlineData("backup", """{"provider":"nope","model":"m"}""", HttpStatusCode.BadRequest, "provider")]
    [InlineData("backup", """{"provider":"openai-compatible","model":"m"}""", HttpStatusCode.BadRequest, "baseUrl")]
    [InlineData("backup", """{"provider":"openai","baseUrl":"ftp://x","model":"m"}""", HttpStatusCode.BadRequest, "baseUrl")]
    [InlineData("Bad!Id", """{"provider":"openai","model":"m"}""", HttpStatusCode.BadRequest, "id")]
    [InlineData("backup", """{"provider":"openai","model":"m","apiKeys":[""]}""", HttpStatusCode.BadRequest, "apiKeys")]
    [InlineData("backup", """{"provider":"openai","model":"m","apiKey":"sk-typo"}""", HttpStatusCode.BadRequest, "'apiKey' is not a known field")]
    [InlineData("openai", """{"provider":"openai","model":"m"}""", HttpStatusCode.Conflict, "settings")]
    public async Task BadDeployment_Is4xxSayingWhat(string id, string body, HttpStatusCode expected, string mentioned)
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(primary));
        using var admin = gateway.CreateClient();

        using var response = await admin.PutAsync($"/admin/deployments/{id}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(expected, response.StatusCode);
        Assert.True(text.Contains(mentioned, StringComparison.Ordinal), text);
    }

    [Fact]
    public async Task KeysWithoutAnEncryptionKey_Are409SayingWhatToSet()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var upstream = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(primary));
        using var admin = gateway.CreateClient();

        using var response = await admin.PutAsJsonAsync("/admin/deployments/backup", Backup(upstream));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("AIMESH_ENCRYPTION_KEY", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantKey_CannotManageDeployments()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(primary));
        using var admin = gateway.CreateClient();
        await admin.PostAsJsonAsync("/admin/tenants", new { id = "acme" });
        using var key = await admin.PostAsJsonAsync("/admin/tenants/acme/keys", new { name = "ci" });
        using var tenant = gateway.CreateClient((await key.Content.ReadFromJsonAsync<JsonNode>())!["key"]!.GetValue<string>());

        using var list = await tenant.GetAsync("/admin/deployments");
        using var anonymous = await gateway.CreateClient(null).GetAsync("/admin/deployments");

        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }
}
