using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks.Secrets;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using AiMesh.Tests.EndToEnd;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AiMesh.Tests.Providers;

/// <summary>Several API keys per deployment: round robin, a key answering 401 leaves the rotation, the request goes on with the next key.</summary>
public sealed class KeyRotationTests
{
    private const string KeyA = "sk-rotation-key-a-0123456789";
    private const string KeyB = "sk-rotation-key-b-0123456789";

    private static Dictionary<string, string?> Settings(string baseUrl, string provider = "openai", string? disableFor = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ROTATION_KEY_A"] = KeyA,
            ["ROTATION_KEY_B"] = KeyB,
            ["AiMesh:Deployments:0:Id"] = "rotating",
            ["AiMesh:Deployments:0:Provider"] = provider,
            ["AiMesh:Deployments:0:BaseUrl"] = baseUrl,
            ["AiMesh:Deployments:0:Model"] = "gpt-4o-mini",
            ["AiMesh:Deployments:0:ApiKeySecret"] = "rotation-key-a",
            ["AiMesh:Deployments:0:ApiKeySecrets:0"] = "rotation-key-b",
            ["AiMesh:Deployments:0:Resilience:MaxRetries"] = "0",
        };
        if (disableFor is not null)
        {
            settings["AiMesh:Deployments:0:KeyDisableDuration"] = disableFor;
        }

        return settings;
    }

    [Fact]
    public async Task Chat_TwoKeys_RotatesRoundRobin()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(fake.BaseUrl));
        using var client = gateway.CreateClient();

        for (var i = 0; i < 4; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody($"request number {i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var keys = fake.Received.Select(r => r.Authorization).ToList();
        Assert.Equal(2, keys.Count(k => k == $"Bearer {KeyA}"));
        Assert.Equal(2, keys.Count(k => k == $"Bearer {KeyB}"));
        Assert.NotEqual(keys[0], keys[1]);
    }

    [Fact]
    public async Task Chat_KeyRejectedWith401_RetriedWithNextKeyAndReported()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        fake.RejectedKeys[KeyB] = true;
        var logs = new CapturingLoggerProvider();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(fake.BaseUrl), logs: logs);
        using var client = gateway.CreateClient();

        for (var i = 0; i < 4; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody($"request number {i}", stream: i % 2 == 1));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.DoesNotContain("error", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Key B was tried once, rejected, and not again; every request was answered with key A.
        var keys = fake.Received.Select(r => r.Authorization).ToList();
        Assert.Equal(1, keys.Count(k => k == $"Bearer {KeyB}"));
        Assert.Equal(4, keys.Count(k => k == $"Bearer {KeyA}"));
        var deployments = await gateway.App.Services.GetRequiredService<IProviderAdapterClient>().GetDeploymentsAsync(CancellationToken.None);
        Assert.Equal(["rotation-key-b"], Assert.Single(deployments, d => d.Id == "rotating").DisabledKeys!);
        var warning = Assert.Single(logs.Lines, l => l.Contains("[api_key_rejected]", StringComparison.Ordinal));
        Assert.Contains("rotating", warning, StringComparison.Ordinal);
        Assert.Contains("rotation-key-b", warning, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyB, logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_AnthropicKeyRejected_RetriedWithNextKey()
    {
        await using var fake = await FakeAnthropicProvider.StartAsync();
        fake.RejectedKeys[KeyA] = true;
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(fake.BaseUrl, provider: "anthropic"));
        using var client = gateway.CreateClient();

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody($"request number {i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, fake.Received.Count(r => r.Authorization == KeyA));
        Assert.Equal(3, fake.Received.Count(r => r.Authorization == KeyB));
    }

    [Fact]
    public async Task Chat_EveryKeyRejected_Returns401WithoutTheKeys()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        fake.RejectedKeys[KeyA] = true;
        fake.RejectedKeys[KeyB] = true;
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(fake.BaseUrl));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain(KeyA, body, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyB, body, StringComparison.Ordinal);
        Assert.Equal(2, fake.Received.Count);
    }

    [Fact]
    public async Task Embeddings_KeyRejected_RetriedWithNextKey()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        fake.RejectedKeys[KeyA] = true;
        var settings = Settings(fake.BaseUrl);
        settings["AiMesh:Deployments:0:Model"] = "text-embedding-3-small";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        for (var i = 0; i < 2; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/embeddings", new JsonObject { ["model"] = "text-embedding-3-small", ["input"] = $"text {i}" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(2, fake.Received.Count(r => r.Authorization == $"Bearer {KeyB}"));
    }

    [Fact]
    public async Task OrderAsync_RejectedKey_ReturnsAfterDisableDurationOrWhenSecretChanges()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var secrets = new Secrets { ["key-a"] = KeyA, ["key-b"] = KeyB };
        var sut = new ApiKeyRotation(new ApiKeyProvider(secrets, new AiMesh.ProviderAdapter.Catalog.ManagedKeys(), time), time, NullLogger<ApiKeyRotation>.Instance);
        var deployment = ProviderCatalog.Freeze(new DeploymentOptions
        {
            Id = "d", Provider = "openai", Model = "gpt-4o-mini", ApiKeySecret = "key-a", ApiKeySecrets = ["key-b"], KeyDisableDuration = TimeSpan.FromMinutes(5),
        });

        var first = await sut.OrderAsync(deployment, CancellationToken.None);
        var second = await sut.OrderAsync(deployment, CancellationToken.None);
        Assert.Equal(["key-a", "key-b"], first.Select(k => k.Secret));
        Assert.Equal(["key-b", "key-a"], second.Select(k => k.Secret));

        Assert.True(sut.Reject(deployment, second[0]));
        Assert.Equal(["key-b"], sut.DisabledKeys("d")!);
        Assert.Equal(["key-a"], (await sut.OrderAsync(deployment, CancellationToken.None)).Select(k => k.Secret));
        Assert.Equal(["key-a"], (await sut.OrderAsync(deployment, CancellationToken.None)).Select(k => k.Secret));

        // A new key in the secret (read again after the 30 s cache) is back in rotation at once.
        secrets["key-b"] = "sk-rotation-key-b-replaced";
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(2, (await sut.OrderAsync(deployment, CancellationToken.None)).Count);

        // The same key comes back once its disable time is over.
        Assert.True(sut.Reject(deployment, new RotatedKey("key-b", "sk-rotation-key-b-replaced")));
        Assert.Single(await sut.OrderAsync(deployment, CancellationToken.None));
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(2, (await sut.OrderAsync(deployment, CancellationToken.None)).Count);
        Assert.Null(sut.DisabledKeys("d"));
    }

    [Fact]
    public async Task Reject_SingleKeyDeployment_KeepsTheKey()
    {
        var time = new FakeTimeProvider();
        var sut = new ApiKeyRotation(new ApiKeyProvider(new Secrets { ["key-a"] = KeyA }, new AiMesh.ProviderAdapter.Catalog.ManagedKeys(), time), time, NullLogger<ApiKeyRotation>.Instance);
        var deployment = ProviderCatalog.Freeze(new DeploymentOptions { Id = "d", Provider = "openai", Model = "gpt-4o-mini", ApiKeySecret = "key-a" });

        var key = Assert.Single(await sut.OrderAsync(deployment, CancellationToken.None));

        Assert.False(sut.Reject(deployment, key));
        Assert.Null(sut.DisabledKeys("d"));
    }

    private sealed class Secrets : Dictionary<string, string>, ISecretStore
    {
        public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken) =>
            Task.FromResult(TryGetValue(name, out var value) ? value : null);
    }
}
