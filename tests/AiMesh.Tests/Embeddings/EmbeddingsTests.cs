using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using AiMesh.Tests.EndToEnd;
using OpenAI;
using OpenAI.Embeddings;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Embeddings;

/// <summary><c>POST /v1/embeddings</c>: the official OpenAI SDK's EmbeddingClient → embedded gateway → fake providers on loopback.</summary>
public sealed class EmbeddingsTests
{
    private const string Model = "text-embedding-3-small";
    private const string Key = "plain-test-key-7f3a9c";

    [Fact]
    public async Task GenerateEmbeddings_OpenAiDeployment_ReturnsVectorsUsageCostAndLedger()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings("openai", Model, Key, ("primary", fake.BaseUrl)));
        string[] inputs = ["Grüße from the embeddings test", "a second, longer input to embed"];

        var result = await Sdk(gateway).GenerateEmbeddingsAsync(inputs);

        var embeddings = result.Value;
        Assert.Equal(2, embeddings.Count);
        for (var i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(i, embeddings[i].Index);
            Assert.Equal(FakeEmbeddings.Vector(inputs[i]), embeddings[i].ToFloats().ToArray());
        }

        var tokens = inputs.Sum(FakeEmbeddings.Tokens);
        Assert.Equal(tokens, embeddings.Usage.InputTokenCount);
        var response = result.GetRawResponse();
        Assert.Equal(Cost(tokens, 0, 0), decimal.Parse(Header(response, "x-aimesh-cost-usd")!, CultureInfo.InvariantCulture));
        Assert.Equal("primary", Header(response, "x-aimesh-deployment"));
        Assert.Equal("openai", Header(response, "x-aimesh-provider"));
        Assert.Equal("1", Header(response, "x-aimesh-attempts"));
        Assert.NotNull(Header(response, "x-request-id"));
        var received = Assert.Single(fake.Received);
        Assert.Equal("/v1/embeddings", received.Path);
        Assert.Equal($"Bearer {Key}", received.Authorization);
        Assert.Equal(Model, received.Body!["model"]!.GetValue<string>());

        using var admin = gateway.CreateClient();
        var usage = await Gateway.WaitForUsageAsync(admin, 1);
        Assert.Equal(tokens, usage["total"]!["promptTokens"]!.GetValue<long>());
        Assert.Equal(Cost(tokens, 0, 0), usage["total"]!["costUsd"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task Embeddings_ProviderRedirects_Returns502WithoutFollowing()
    {
        await using var elsewhere = await FakeOpenAiProvider.StartAsync();
        await using var primary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { RedirectTo = elsewhere.BaseUrl };
        await using var gateway = await EmbeddedGateway.StartAsync(Settings("openai", Model, Key, ("primary", primary.BaseUrl)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/embeddings", new { model = Model, input = "hello" });
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("redirect", error?["error"]?["message"]?.GetValue<string>(), StringComparison.Ordinal);
        Assert.Single(primary.Received);
        Assert.Empty(elsewhere.Received);
    }

    [Theory]
    [InlineData("gemini")]
    [InlineData("ollama")]
    public async Task GenerateEmbeddings_TranslatedProvider_ReturnsVectorsInOpenAiShape(string provider)
    {
        await using FakeProviderServer fake = provider == "gemini" ? await FakeGeminiProvider.StartAsync() : await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(provider, "text-embedding-004", Key, ("primary", fake.BaseUrl)));
        string[] inputs = ["first text", "second text"];

        // The SDK asks for base64: the gateway encodes the provider's floats.
        var result = await Sdk(gateway, "text-embedding-004").GenerateEmbeddingsAsync(inputs, new EmbeddingGenerationOptions { Dimensions = 4 });

        Assert.Equal(2, result.Value.Count);
        Assert.Equal(FakeEmbeddings.Vector(inputs[0], 4), result.Value[0].ToFloats().ToArray());
        Assert.Equal(FakeEmbeddings.Vector(inputs[1], 4), result.Value[1].ToFloats().ToArray());
        Assert.True(result.Value.Usage.InputTokenCount > 0);
        Assert.Equal(provider, Header(result.GetRawResponse(), "x-aimesh-provider"));
        var received = Assert.Single(fake.Received);
        if (provider == "gemini")
        {
            Assert.EndsWith(":batchEmbedContents", received.Path, StringComparison.Ordinal);
            Assert.Equal(4, received.Body!["requests"]![0]!["outputDimensionality"]!.GetValue<int>());
            Assert.Equal(Key, received.Header("x-goog-api-key"));
        }
        else
        {
            Assert.Equal("/api/embed", received.Path);
            Assert.Equal(2, received.Body!["input"]!.AsArray().Count);
        }
    }

    [Fact]
    public async Task Embeddings_FloatFormatOverHttp_ReturnsFloatArrays()
    {
        await using var fake = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings("ollama", "nomic-embed-text", Key, ("primary", fake.BaseUrl)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/embeddings", new JsonObject { ["model"] = "nomic-embed-text", ["input"] = "hello" });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("list", body["object"]!.GetValue<string>());
        var data = Assert.Single(body["data"]!.AsArray())!;
        Assert.Equal("embedding", data["object"]!.GetValue<string>());
        Assert.Equal(FakeEmbeddings.Vector("hello"), data["embedding"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray());
        Assert.Equal(FakeEmbeddings.Tokens("hello"), body["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task GenerateEmbedding_FirstDeploymentFailsTransiently_FailsOverToSecond()
    {
        await using var broken = await FakeOpenAiProvider.StartAsync();
        await using var healthy = await FakeOpenAiProvider.StartAsync();
        broken.StandingFault = new Fault { Status = 503 };
        await using var gateway = await EmbeddedGateway.StartAsync(Settings("openai", Model, Key, ("broken", broken.BaseUrl), ("healthy", healthy.BaseUrl)));

        var result = await Sdk(gateway).GenerateEmbeddingAsync("fail over please");

        Assert.Equal(FakeEmbeddings.Vector("fail over please"), result.Value.ToFloats().ToArray());
        Assert.Equal("healthy", Header(result.GetRawResponse(), "x-aimesh-deployment"));
        Assert.Equal("2", Header(result.GetRawResponse(), "x-aimesh-attempts"));
        Assert.Single(broken.Received);
    }

    [Theory]
    [InlineData("{\"model\":\"text-embedding-3-small\",\"input\":\"\"}", "input")]
    [InlineData("{\"model\":\"text-embedding-3-small\",\"input\":[]}", "input")]
    [InlineData("{\"model\":\"text-embedding-3-small\",\"input\":[\"ok\",\"\"]}", "input[1]")]
    [InlineData("{\"model\":\"text-embedding-3-small\",\"input\":[\"ok\",5]}", "input[1]")]
    [InlineData("{\"model\":\"text-embedding-3-small\"}", "input")]
    [InlineData("{\"input\":\"hello\"}", "model")]
    [InlineData("{\"model\":\"text-embedding-3-small\",\"input\":\"hello\",\"encoding_format\":\"int8\"}", "encoding_format")]
    [InlineData("{\"model\":\"text-embedding-3-small\",\"input\":\"hello\",\"dimensions\":0}", "dimensions")]
    public async Task Embeddings_InvalidRequest_IsOpenAi400NamingTheField(string body, string param)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings("openai", Model, Key, ("primary", fake.BaseUrl)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsync("/v1/embeddings", new StringContent(body, Encoding.UTF8, "application/json"));
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task Embeddings_ChatOnlyModel_Is400UnsupportedCapability()
    {
        await using var fake = await FakeAnthropicProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings("anthropic", "claude-sonnet-4-5", Key, ("primary", fake.BaseUrl)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/embeddings", new JsonObject { ["model"] = "claude-sonnet-4-5", ["input"] = "hello" });
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("unsupported_capability", error["code"]!.GetValue<string>());
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task Embeddings_NoKey_Is401()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings("openai", Model, Key, ("primary", fake.BaseUrl)));
        using var client = gateway.CreateClient(key: null);

        using var response = await client.PostAsJsonAsync("/v1/embeddings", new JsonObject { ["model"] = Model, ["input"] = "hello" });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_api_key", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Embeddings_OverRateLimit_Is429WithRetryAfter()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Settings("openai", Model, Key, ("primary", fake.BaseUrl));
        settings["AiMesh:Quotas:Default:RequestsPerMinute"] = "1";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var first = await client.PostAsJsonAsync("/v1/embeddings", new JsonObject { ["model"] = Model, ["input"] = "hello" });
        using var second = await client.PostAsJsonAsync("/v1/embeddings", new JsonObject { ["model"] = Model, ["input"] = "hello" });

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("rate_limit_exceeded", JsonNode.Parse(await second.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
        Assert.NotNull(second.Headers.RetryAfter);
        Assert.Single(fake.Received);
    }

    private static EmbeddingClient Sdk(EmbeddedGateway gateway, string model = Model) =>
        new(model, new ApiKeyCredential(EmbeddedGateway.MasterKey), new OpenAIClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });
}
