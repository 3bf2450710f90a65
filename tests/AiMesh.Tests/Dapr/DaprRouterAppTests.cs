using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Contracts;
using AiMesh.CostLedger;
using AiMesh.ProviderAdapter;
using AiMesh.Router;
using AiMesh.Testing;
using AiMesh.Testing.Dapr;
using AiMesh.Tests.EndToEnd;
using AiMesh.Validation;

namespace AiMesh.Tests.Dapr;

/// <summary>
/// The router's own Program in Dapr mode, with validation, provider-adapter and cost-ledger (the quota
/// actors) each in their own Program behind the fake sidecar: the public API over service invocation and actors.
/// </summary>
public sealed class DaprRouterAppTests : IAsyncLifetime
{
    private const string Key = "dapr-mode-master-key-0123456789";
    private FakeOpenAiProvider _provider = null!;
    private FakeDaprSidecar _sidecar = null!;
    private readonly List<IAsyncDisposable> _apps = [];
    private HttpClient _router = null!;

    public async Task InitializeAsync()
    {
        _provider = await FakeOpenAiProvider.StartAsync();
        _sidecar = await FakeDaprSidecar.StartAsync();
        _sidecar.AddSecret(SecretNames.MasterKey, Key);
        _sidecar.AddSecret(SecretNames.OpenAiApiKey, Gateway.ProviderKey);
        var validation = new DaprServiceFactory<ValidationEntryPoint>(_sidecar);
        var adapter = new DaprServiceFactory<ProviderAdapterEntryPoint>(_sidecar, new Dictionary<string, string> { ["OPENAI_BASE_URL"] = _provider.BaseUrl });
        var ledger = new DaprServiceFactory<CostLedgerEntryPoint>(_sidecar);
        var router = new DaprServiceFactory<RouterEntryPoint>(_sidecar, new Dictionary<string, string> { ["OPENAI_BASE_URL"] = _provider.BaseUrl });
        _apps.AddRange([validation, adapter, ledger, router]);
        _sidecar.RegisterApp(AppIds.Validation, validation.CreateClient());
        _sidecar.RegisterApp(AppIds.ProviderAdapter, adapter.CreateClient());
        _sidecar.RegisterApp(AppIds.CostLedger, ledger.CreateClient());
        _sidecar.RegisterActorHost(ActorTypes.Quota, ledger.CreateClient());
        _router = router.CreateClient();
        _router.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    }

    public async Task DisposeAsync()
    {
        _router.Dispose();
        foreach (var app in Enumerable.Reverse(_apps))
        {
            await app.DisposeAsync();
        }

        await _sidecar.DisposeAsync();
        await _provider.DisposeAsync();
    }

    [Fact]
    public async Task ChatCompletion_ThroughTheSidecar_IsAnsweredByTheProvider()
    {
        using var response = await _router.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var answer = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(_provider.Reply, answer!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Single(_provider.Received);
        Assert.Contains(_sidecar.HttpCalls, c => c.Path.StartsWith("/v1.0/invoke/provider-adapter/", StringComparison.Ordinal));
        Assert.Contains(_sidecar.HttpCalls, c => c.Path.StartsWith("/v1.0/actors/QuotaActor/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CountTokens_ThroughTheSidecar_ChecksAndCountsWithoutTheProvider()
    {
        var body = new JsonObject { ["model"] = "gpt-4o-mini", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Count me through Dapr" }) };

        using var response = await _router.PostAsJsonAsync("/v1/messages/count_tokens", body);
        var count = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.InRange(count!["input_tokens"]!.GetValue<int>(), 5, 30);
        Assert.Empty(_provider.Received);
        Assert.Contains(_sidecar.HttpCalls, c => c.Path.StartsWith("/v1.0/invoke/validation/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WrongMethod_InTheRouterApp_AnswersInOpenAiShape()
    {
        using var response = await _router.GetAsync("/v1/chat/completions");
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("method_not_allowed", error?["error"]?["code"]?.GetValue<string>());
    }
}
