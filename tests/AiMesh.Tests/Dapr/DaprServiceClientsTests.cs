using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter;
using AiMesh.Testing;
using AiMesh.Testing.Dapr;
using AiMesh.Tests.EndToEnd;
using AiMesh.Validation;
using Microsoft.Extensions.DependencyInjection;

namespace AiMesh.Tests.Dapr;

/// <summary>
/// The typed clients of AddDaprBuildingBlocks (the router's side) → fake sidecar's invoke API →
/// the real validation and provider-adapter apps (WebApplicationFactory) → fake OpenAI provider.
/// </summary>
public sealed class DaprServiceClientsTests
{
    private static ChatCompletionRequest Chat(string model = "gpt-4o-mini", double? temperature = null) => new()
    {
        Model = model,
        Messages = [new ChatMessage { Role = "user", Content = JsonSerializer.SerializeToElement("Say hello to the test suite please") }],
        Temperature = temperature,
    };

    private static DaprServiceFactory<ProviderAdapterEntryPoint> ProviderAdapter(FakeDaprSidecar sidecar, FakeOpenAiProvider provider) =>
        new(sidecar, new Dictionary<string, string> { ["OPENAI_BASE_URL"] = provider.BaseUrl });

    [Fact]
    public async Task ValidateChatAsync_ValidRequest_ReturnsNormalisedVerdictThroughInvoke()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var validation = new DaprServiceFactory<ValidationEntryPoint>(sidecar);
        sidecar.RegisterApp(AppIds.Validation, validation.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);

        var verdict = await caller.GetRequiredService<IValidationClient>().ValidateChatAsync(Chat(model: " gpt-4o-mini "), new ContentPolicy(), CancellationToken.None);

        Assert.True(verdict.IsValid);
        Assert.Empty(verdict.Issues);
        Assert.Equal("gpt-4o-mini", verdict.Normalised?.Model);
        var call = Assert.Single(sidecar.HttpCalls, c => c.Path.StartsWith("/v1.0/invoke/", StringComparison.Ordinal));
        Assert.Equal(new RecordedHttpCall("POST", "/v1.0/invoke/validation/method/validate/chat", "validation"), call);
    }

    [Fact]
    public async Task ValidateChatAsync_CarriesThePolicy_AndReturnsRedactedRequestWithFindings()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var validation = new DaprServiceFactory<ValidationEntryPoint>(sidecar);
        sidecar.RegisterApp(AppIds.Validation, validation.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);
        var request = Chat() with { Messages = [new ChatMessage { Role = "user", Content = JsonSerializer.SerializeToElement("write to jo@example.com") }] };

        var verdict = await caller.GetRequiredService<IValidationClient>().ValidateChatAsync(request, new ContentPolicy { Pii = ContentPolicy.Redact }, CancellationToken.None);

        Assert.True(verdict.IsValid);
        Assert.Equal("write to [REDACTED:email]", verdict.Normalised!.Messages![0].Content!.Value.GetString());
        Assert.Equal(1, verdict.Content!.Redactions["email"]);
        Assert.Equal(ContentFindings.Redacted, verdict.Content.Pii);
    }

    [Fact]
    public async Task ValidateEmbeddingsAsync_ThroughInvoke_BlocksPiiNamingTheInput()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var validation = new DaprServiceFactory<ValidationEntryPoint>(sidecar);
        sidecar.RegisterApp(AppIds.Validation, validation.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);
        var request = new EmbeddingsRequest { Model = "m", Input = JsonSerializer.SerializeToElement(new[] { "ok", "call +44 20 7946 0958" }) };

        var verdict = await caller.GetRequiredService<IValidationClient>().ValidateEmbeddingsAsync(request, new ContentPolicy { Pii = ContentPolicy.Block }, CancellationToken.None);

        Assert.False(verdict.IsValid);
        Assert.Equal("input[1]", Assert.Single(verdict.Issues).Param);
        Assert.Equal(1, verdict.Content!.Redactions["phone"]);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("POST", "/v1.0/invoke/validation/method/validate/embeddings", "validation"));
    }

    [Fact]
    public async Task ValidateChatAsync_InvalidRequest_ReturnsIssuesThroughInvoke()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var validation = new DaprServiceFactory<ValidationEntryPoint>(sidecar);
        sidecar.RegisterApp(AppIds.Validation, validation.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);

        var verdict = await caller.GetRequiredService<IValidationClient>().ValidateChatAsync(Chat(temperature: 3), new ContentPolicy(), CancellationToken.None);

        Assert.False(verdict.IsValid);
        Assert.Null(verdict.Normalised);
        var issue = Assert.Single(verdict.Issues);
        Assert.Equal("temperature", issue.Param);
    }

    [Fact]
    public async Task ValidateChatAsync_SidecarAnswers503_Throws()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var validation = new DaprServiceFactory<ValidationEntryPoint>(sidecar);
        sidecar.RegisterApp(AppIds.Validation, validation.CreateClient());
        sidecar.FailNextInvocations(AppIds.Validation, 1, System.Net.HttpStatusCode.ServiceUnavailable);
        await using var caller = DaprCallerSide.Services(sidecar);
        var client = caller.GetRequiredService<IValidationClient>();

        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => client.ValidateChatAsync(Chat(), new ContentPolicy(), CancellationToken.None));
        var verdict = await client.ValidateChatAsync(Chat(), new ContentPolicy(), CancellationToken.None);

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, failure.StatusCode);
        Assert.True(verdict.IsValid);
    }

    [Fact]
    public async Task ChatAsync_ThroughInvoke_ReturnsProviderAnswerUsageAndCost()
    {
        await using var provider = await FakeOpenAiProvider.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret(SecretNames.OpenAiApiKey, Gateway.ProviderKey);
        await using var adapter = ProviderAdapter(sidecar, provider);
        sidecar.RegisterApp(AppIds.ProviderAdapter, adapter.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);

        var result = await caller.GetRequiredService<IProviderAdapterClient>().ChatAsync(new ProviderChatRequest("openai", "req-1", Chat()), CancellationToken.None);

        Assert.Equal(200, result.StatusCode);
        Assert.Equal(ProviderFailureKind.None, result.Failure);
        Assert.Equal("openai", result.DeploymentId);
        Assert.Equal(provider.Reply, result.Response?.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        var received = Assert.Single(provider.Received);
        Assert.Equal($"Bearer {Gateway.ProviderKey}", received.Authorization);
        var prompt = FakeOpenAiProvider.PromptTokens(received.Body);
        Assert.Equal(prompt, result.Usage?.PromptTokens);
        Assert.Equal(provider.CompletionTokens, result.Usage?.CompletionTokens);
        Assert.Equal(Gateway.MiniCost(prompt, provider.CompletionTokens), result.CostUsd);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("POST", "/v1.0/invoke/provider-adapter/method/chat", "provider-adapter"));
    }

    [Fact]
    public async Task GetDeploymentsAsync_ThroughInvoke_ListsEnvironmentDeployment()
    {
        await using var provider = await FakeOpenAiProvider.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var adapter = ProviderAdapter(sidecar, provider);
        sidecar.RegisterApp(AppIds.ProviderAdapter, adapter.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);

        var deployments = await caller.GetRequiredService<IProviderAdapterClient>().GetDeploymentsAsync(CancellationToken.None);

        var openai = Assert.Single(deployments);
        Assert.Equal("openai", openai.Id);
        Assert.True(openai.Enabled);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("GET", "/v1.0/invoke/provider-adapter/method/deployments", "provider-adapter"));
    }

    [Fact]
    public async Task DeploymentAdmin_ThroughInvoke_StoresTheKeyEncryptedInTheStateStore_AndServesWithIt()
    {
        const string ManagedKey = "sk-managed-through-dapr-0123456789abcdef";
        await using var provider = await FakeOpenAiProvider.StartAsync();
        await using var upstream = await FakeOpenAiProvider.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret(SecretNames.EncryptionKey, AiMesh.Tests.Catalog.KeyEncryptionTests.KeyOne);
        await using var adapter = ProviderAdapter(sidecar, provider);
        sidecar.RegisterApp(AppIds.ProviderAdapter, adapter.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);
        var admin = caller.GetRequiredService<IDeploymentAdminClient>();

        var put = await admin.PutAsync("backup", new DeploymentSpec { Provider = "openai-compatible", BaseUrl = upstream.BaseUrl, Model = "team-model", ApiKeys = [ManagedKey] }, CancellationToken.None);
        var listed = await admin.ListAsync(CancellationToken.None);
        var chat = await caller.GetRequiredService<IProviderAdapterClient>().ChatAsync(new ProviderChatRequest("backup", "req-1", Chat(model: "team-model")), CancellationToken.None);
        var disabled = await admin.SetEnabledAsync("openai", false, CancellationToken.None);

        Assert.Equal(201, put.Status);
        Assert.Equal(["openai", "backup"], listed.Select(d => d.Id).Order(StringComparer.Ordinal).Reverse());
        Assert.Equal(200, chat.StatusCode);
        Assert.Equal($"Bearer {ManagedKey}", Assert.Single(upstream.Received).Authorization);
        Assert.Equal(200, disabled.Status);
        Assert.False(disabled.Deployment!.Enabled);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("PUT", "/v1.0/invoke/provider-adapter/method/catalog/deployments/backup", "provider-adapter"));
        var stored = sidecar.State.GetJson(FakeDaprSidecar.StateStoreName, "catalog-managed-deployments")!.ToJsonString();
        Assert.DoesNotContain(ManagedKey, stored, StringComparison.Ordinal);
        Assert.Contains("v1:", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamChatAsync_ThroughInvoke_StreamsStartChunksAndEndWithUsage()
    {
        await using var provider = await FakeOpenAiProvider.StartAsync();
        // 200 ms between chunks: a buffered hop would deliver every event at once.
        provider.Enqueue(new Fault { ChunkDelay = TimeSpan.FromMilliseconds(200) });
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret(SecretNames.OpenAiApiKey, Gateway.ProviderKey);
        await using var adapter = ProviderAdapter(sidecar, provider);
        sidecar.RegisterApp(AppIds.ProviderAdapter, adapter.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);
        var client = caller.GetRequiredService<IProviderAdapterClient>();

        var events = new List<(ProviderStreamEvent Event, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        await foreach (var item in client.StreamChatAsync(new ProviderChatRequest("openai", "req-2", Chat()), CancellationToken.None))
        {
            events.Add((item, clock.Elapsed));
        }

        var start = events[0].Event;
        Assert.Equal(StreamEventKind.Start, start.Kind);
        Assert.Equal("openai", start.DeploymentId);
        var chunks = events.Select(e => e.Event).Where(e => e.Kind == StreamEventKind.Chunk).ToList();
        Assert.Equal(provider.Reply, Text(chunks));
        var end = events[^1].Event;
        Assert.Equal(StreamEventKind.End, end.Kind);
        var prompt = FakeOpenAiProvider.PromptTokens(Assert.Single(provider.Received).Body);
        Assert.Equal(prompt, end.Usage?.PromptTokens);
        Assert.Equal(provider.CompletionTokens, end.Usage?.CompletionTokens);
        Assert.Equal(Gateway.MiniCost(prompt, provider.CompletionTokens), end.CostUsd);
        Assert.Equal(1, events.Count(e => e.Event.Kind == StreamEventKind.End));
        Assert.True(events[^1].At - events[1].At >= TimeSpan.FromMilliseconds(600), $"the events arrived together: {string.Join(", ", events.Select(e => e.At.TotalMilliseconds))} ms");
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("POST", "/v1.0/invoke/provider-adapter/method/chat/stream", "provider-adapter"));
    }

    private static string Text(IEnumerable<ProviderStreamEvent> chunks)
    {
        var text = new StringBuilder();
        foreach (var chunk in chunks)
        {
            using var document = JsonDocument.Parse(chunk.Chunk!);
            foreach (var choice in document.RootElement.GetProperty("choices").EnumerateArray())
            {
                if (choice.GetProperty("delta").TryGetProperty("content", out var content))
                {
                    text.Append(content.GetString());
                }
            }
        }

        return text.ToString();
    }
}
