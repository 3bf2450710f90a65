using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.Testing;
using OpenAI.Chat;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>Provider type <c>azure-openai</c> end to end against <see cref="FakeOpenAiProvider"/> on Azure's URLs.</summary>
public sealed class AzureOpenAiEndToEndTests
{
    private const string Key = "azure-test-key-0123456789abcdef";
    private const string Model = "gpt-4o-mini";
    private const string ToolArguments = "{\"city\":\"Zürich\",\"unit\":\"celsius\"}";

    private static async Task<FakeOpenAiProvider> StartFakeAsync()
    {
        var fake = await FakeOpenAiProvider.StartAsync();
        fake.ToolCallArguments = ToolArguments;
        return fake;
    }

    private static Dictionary<string, string?> Settings(params (string Id, FakeOpenAiProvider Fake)[] deployments)
    {
        var settings = ProviderTestSupport.Settings("azure-openai", Model, Key, deployments.Select(d => (d.Id, d.Fake.Endpoint)).ToArray());
        settings["AiMesh:Deployments:0:AzureDeployment"] = "prod-mini";
        return settings;
    }

    [Fact]
    public async Task CompleteChat_WithToolAndImage_ReachesTheAzureDeploymentAndReturnsToolCallUsageAndCost()
    {
        await using var fake = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));

        ClientResult<ChatCompletion> result = await Sdk(gateway, Model).CompleteChatAsync(WeatherMessages(), WeatherTool());

        var completion = result.Value;
        Assert.Equal(fake.Reply, completion.Content[0].Text);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal(ToolName, call.FunctionName);
        Assert.Equal(ToolArguments, call.FunctionArguments.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var received = Assert.Single(fake.Received);
        Assert.Equal("/openai/deployments/prod-mini/chat/completions", received.Path);
        Assert.Equal($"?api-version={ProviderTypes.DefaultAzureApiVersion}", received.Query);
        Assert.Equal(Key, received.Header("api-key"));
        Assert.Empty(received.Authorization ?? string.Empty);
        Assert.Equal("image_url", received.Body!["messages"]![1]!["content"]![1]!["type"]!.GetValue<string>());
        Assert.Equal(ToolName, received.Body["tools"]![0]!["function"]!["name"]!.GetValue<string>());
        var prompt = FakeOpenAiProvider.PromptTokens(received.Body);
        Assert.Equal(prompt, completion.Usage.InputTokenCount);
        Assert.Equal(fake.CompletionTokens, completion.Usage.OutputTokenCount);
        Assert.Equal(Cost(prompt, 0, fake.CompletionTokens), decimal.Parse(Header(result.GetRawResponse(), "x-aimesh-cost-usd")!, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task CompleteChatStreaming_WithToolAndImage_StreamsToolCallAndUsageWithoutThePromptFilterChunk()
    {
        await using var fake = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));

        var answer = await StreamedAnswer.ReadAsync(Sdk(gateway, Model).CompleteChatStreamingAsync(WeatherMessages(), WeatherTool()));

        Assert.Equal(fake.Reply, answer.Text.ToString());
        Assert.Equal(ToolName, answer.FunctionName);
        Assert.Equal(FakeOpenAiProvider.FakeToolCallId, answer.ToolCallId);
        Assert.Equal(ToolArguments, answer.Arguments.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, answer.FinishReason);
        var received = Assert.Single(fake.Received);
        Assert.NotNull(answer.Usage);
        Assert.Equal(FakeOpenAiProvider.PromptTokens(received.Body), answer.Usage.InputTokenCount);
        Assert.Equal(fake.CompletionTokens, answer.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task Stream_OverHttp_HasNoChoicelessChunkAndCarriesTheCost()
    {
        await using var fake = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: true));
        var (data, cost) = ParseSse(await response.Content.ReadAsStringAsync());

        Assert.Equal("[DONE]", data[^1]);
        var chunks = data.SkipLast(1).Select(d => JsonNode.Parse(d)!).ToList();
        Assert.DoesNotContain(chunks, c => c["prompt_filter_results"] is not null);
        Assert.All(chunks.SkipLast(1), c => Assert.NotEmpty(c["choices"]!.AsArray()));
        var prompt = FakeOpenAiProvider.PromptTokens(Assert.Single(fake.Received).Body);
        Assert.Equal(Cost(prompt, 0, fake.CompletionTokens), cost);
    }

    [Fact]
    public async Task Chat_ProviderRejectsTheKey_Returns401InOpenAiShapeWithoutTheKey()
    {
        await using var fake = await StartFakeAsync();
        fake.StandingFault = new Fault { Status = 401, ErrorMessage = $"Access denied due to invalid subscription key {Key}." };
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: false));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain(Key, text, StringComparison.Ordinal);
        Assert.Equal("Access denied due to invalid subscription key ***.", JsonNode.Parse(text)!["error"]!["message"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_DeploymentUnavailable_FailsOverToTheNextDeployment(bool stream)
    {
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { Status = 503 };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream));
        await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", Header(response, "x-aimesh-deployment"));
        Assert.Single(primary.Received);
        Assert.Equal("/openai/deployments/gpt-4o-mini/chat/completions", Assert.Single(secondary.Received).Path);
    }

    [Fact]
    public async Task Chat_DeploymentRedirects_TheApiKeyHeaderGoesNowhereElse()
    {
        // HttpClient drops Authorization on a redirect but not Azure's api-key header: the gateway follows none.
        await using var elsewhere = await StartFakeAsync();
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { RedirectTo = elsewhere.BaseUrl };
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: false));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(Key, Assert.Single(primary.Received).Header("api-key"));
        Assert.Empty(elsewhere.Received);
    }

    [Fact]
    public async Task Breaker_DeploymentKeepsFailing_OpensAndRoutingSkipsIt()
    {
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { Status = 503 };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        for (var i = 0; i < 8; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: false, question: $"Question {i}?"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.InRange(primary.Received.Count, 4, 6);
        var health = await client.GetFromJsonAsync<JsonNode>("/health");
        var row = health!["deployments"]!.AsArray().Single(d => d!["deploymentId"]!.GetValue<string>() == "primary")!;
        Assert.Equal("open", row["breakerState"]?.GetValue<string>());
    }

    [Fact]
    public async Task EnvironmentShortcut_EndpointKeyAndDeployment_ServeThatDeployment()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["AZURE_OPENAI_API_KEY"] = Key,
            ["AZURE_OPENAI_ENDPOINT"] = fake.Endpoint,
            ["AZURE_OPENAI_DEPLOYMENT"] = "prod-mini",
            ["AZURE_OPENAI_API_VERSION"] = "v1",
        });

        ClientResult<ChatCompletion> result = await Sdk(gateway, "prod-mini").CompleteChatAsync([new UserChatMessage("Hello there")]);

        Assert.Equal(fake.Reply, result.Value.Content[0].Text);
        Assert.Equal("azure-openai", Header(result.GetRawResponse(), "x-aimesh-deployment"));
        var received = Assert.Single(fake.Received);
        Assert.Equal("/openai/v1/chat/completions", received.Path);
        Assert.Equal("prod-mini", received.Body!["model"]!.GetValue<string>());
        Assert.Equal(Key, received.Header("api-key"));
    }
}
