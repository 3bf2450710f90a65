using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter;
using AiMesh.Testing;
using AiMesh.Testing.Dapr;
using AiMesh.Testing.Fakes;
using AiMesh.Tests.EndToEnd;
using Microsoft.Extensions.DependencyInjection;

namespace AiMesh.Tests.Dapr;

/// <summary>The router's embeddings call in Dapr mode: typed client → fake sidecar's invoke API → the real provider-adapter app → fake OpenAI.</summary>
public sealed class DaprEmbeddingsClientTests
{
    [Fact]
    public async Task EmbedAsync_ThroughInvoke_ReturnsVectorsUsageAndCost()
    {
        await using var provider = await FakeOpenAiProvider.StartAsync();
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret(SecretNames.OpenAiApiKey, Gateway.ProviderKey);
        await using var adapter = new DaprServiceFactory<ProviderAdapterEntryPoint>(sidecar, new Dictionary<string, string> { ["OPENAI_BASE_URL"] = provider.BaseUrl });
        sidecar.RegisterApp(AppIds.ProviderAdapter, adapter.CreateClient());
        await using var caller = DaprCallerSide.Services(sidecar);
        var request = new EmbeddingsRequest { Model = "text-embedding-3-small", Input = JsonSerializer.SerializeToElement("embed me through Dapr") };

        var result = await caller.GetRequiredService<IProviderAdapterClient>().EmbedAsync(new ProviderEmbeddingsRequest("openai", "req-1", request), CancellationToken.None);

        Assert.Equal(200, result.StatusCode);
        Assert.Equal(ProviderFailureKind.None, result.Failure);
        var vector = result.Response!.Value.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(FakeEmbeddings.Vector("embed me through Dapr"), vector);
        var tokens = FakeEmbeddings.Tokens("embed me through Dapr");
        Assert.Equal(tokens, result.Usage?.PromptTokens);
        Assert.Equal(tokens * 0.02m / 1_000_000m, result.CostUsd);
        Assert.Equal($"Bearer {Gateway.ProviderKey}", Assert.Single(provider.Received).Authorization);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("POST", "/v1.0/invoke/provider-adapter/method/embeddings", "provider-adapter"));
    }
}
