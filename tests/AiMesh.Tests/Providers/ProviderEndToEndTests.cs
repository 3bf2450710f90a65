using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using OpenAI.Chat;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>
/// One provider type end to end: the official OpenAI SDK → embedded gateway → the provider's fake on
/// loopback, speaking that provider's wire format. Each concrete class names the provider, its fake and
/// what the translated request must look like; the tests are the same for every provider.
/// </summary>
public abstract class ProviderEndToEndTests<TFake>
    where TFake : FakeProviderServer
{
    protected abstract string Provider { get; }

    protected abstract string Model { get; }

    /// <summary>A key in the provider's own style, so the scrubber's patterns are not what hides it.</summary>
    protected virtual string Key => "plain-test-key-7f3a9c";

    /// <summary>Stream events the provider sends before any text (Anthropic: message_start, content_block_start, ping).</summary>
    protected virtual int EventsBeforeText => 0;

    /// <summary>A status the provider answers when overloaded or down (transient).</summary>
    protected virtual int TransientStatus => 503;

    protected abstract Task<TFake> StartFakeAsync();

    /// <summary>The request header that carried the key, and its expected value.</summary>
    protected abstract (string Header, string Value) KeyHeader { get; }

    /// <summary>Asserts the translated request: system prompt, text, image, tool definition.</summary>
    protected abstract void AssertTranslatedRequest(JsonNode body);

    /// <summary>What the key header holds when the deployment comes from the environment shortcut (null: none sent).</summary>
    protected virtual string? EnvironmentKeyValue => KeyHeader.Value;

    /// <summary>The settings of the provider's environment shortcut pointing at the fake.</summary>
    protected abstract Dictionary<string, string?> EnvironmentSettings(TFake fake);

    protected Dictionary<string, string?> Settings(params (string Id, TFake Fake)[] deployments) =>
        ProviderTestSupport.Settings(Provider, Model, Key, deployments.Select(d => (d.Id, d.Fake.BaseUrl)).ToArray());

    [Fact]
    public async Task CompleteChat_WithToolAndImage_ReturnsTextToolCallUsageAndCost()
    {
        await using var fake = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));

        ClientResult<ChatCompletion> result = await Sdk(gateway, Model).CompleteChatAsync(WeatherMessages(), WeatherTool());

        var completion = result.Value;
        Assert.Equal(fake.Reply, completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal(ToolName, call.FunctionName);
        Assert.False(string.IsNullOrEmpty(call.Id));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(fake.ToolArguments), JsonNode.Parse(call.FunctionArguments.ToString())), call.FunctionArguments.ToString());
        var received = Assert.Single(fake.Received);
        var prompt = fake.PromptTokens(received.Body);
        Assert.Equal(prompt, completion.Usage.InputTokenCount);
        Assert.Equal(fake.CompletionTokens, completion.Usage.OutputTokenCount);
        Assert.Equal(fake.CachedTokens, completion.Usage.InputTokenDetails?.CachedTokenCount ?? 0);
        var response = result.GetRawResponse();
        Assert.Equal(Cost(prompt, fake.CachedTokens, fake.CompletionTokens), decimal.Parse(Header(response, "x-aimesh-cost-usd")!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("primary", Header(response, "x-aimesh-deployment"));
        Assert.Equal(Provider, Header(response, "x-aimesh-provider"));
        Assert.Equal(KeyHeader.Value, received.Header(KeyHeader.Header));
        AssertTranslatedRequest(received.Body!);
    }

    [Fact]
    public async Task CompleteChatStreaming_WithToolAndImage_StreamsTextToolCallAndUsage()
    {
        await using var fake = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));

        var answer = await StreamedAnswer.ReadAsync(Sdk(gateway, Model).CompleteChatStreamingAsync(WeatherMessages(), WeatherTool()));

        Assert.Equal(fake.Reply, answer.Text.ToString());
        Assert.Equal(ToolName, answer.FunctionName);
        Assert.False(string.IsNullOrEmpty(answer.ToolCallId));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(fake.ToolArguments), JsonNode.Parse(answer.Arguments.ToString())), answer.Arguments.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, answer.FinishReason);
        Assert.True(answer.Updates > 3, $"expected several stream updates, got {answer.Updates}");
        var received = Assert.Single(fake.Received);
        Assert.NotNull(answer.Usage);
        Assert.Equal(fake.PromptTokens(received.Body), answer.Usage.InputTokenCount);
        Assert.Equal(fake.CompletionTokens, answer.Usage.OutputTokenCount);
        Assert.Equal(fake.CachedTokens, answer.Usage.InputTokenDetails?.CachedTokenCount ?? 0);
        AssertTranslatedRequest(received.Body!);
    }

    [Fact]
    public async Task Stream_OverHttp_IsOpenAiSseWithUsageCostAndDone()
    {
        await using var fake = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: true));
        var (data, cost) = ParseSse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data.SkipLast(1).Select(d => JsonNode.Parse(d)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        var usage = chunks[^1]["usage"]!;
        Assert.Empty(chunks[^1]["choices"]!.AsArray());
        var prompt = fake.PromptTokens(Assert.Single(fake.Received).Body);
        Assert.Equal(prompt, usage["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(fake.CompletionTokens, usage["completion_tokens"]!.GetValue<int>());
        Assert.Equal(prompt + fake.CompletionTokens, usage["total_tokens"]!.GetValue<int>());
        Assert.Equal(Cost(prompt, fake.CachedTokens, fake.CompletionTokens), cost);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_ProviderRejectsTheKey_Returns401InOpenAiShapeWithoutTheKey(bool stream)
    {
        await using var fake = await StartFakeAsync();
        fake.StandingFault = new Fault { Status = 401, ErrorMessage = $"Invalid API key: {Key}" };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain(Key, text, StringComparison.Ordinal);
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.Equal("Invalid API key: ***", error["message"]!.GetValue<string>());
        Assert.Equal("authentication_error", error["type"]!.GetValue<string>());
        Assert.Empty(secondary.Received);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_ProviderOverloaded_FailsOverToTheNextDeployment(bool stream)
    {
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { Status = TransientStatus };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", Header(response, "x-aimesh-deployment"));
        Assert.Equal("2", Header(response, "x-aimesh-attempts"));
        Assert.Single(primary.Received);
        Assert.Single(secondary.Received);
        Assert.Contains(stream ? "data: [DONE]" : "\"tool_calls\"", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_ProviderRedirects_IsNotFollowedAndFailsOver(bool stream)
    {
        // A client that followed the redirect would hand this server the prompt and, in any header but
        // Authorization, the provider key.
        await using var elsewhere = await StartFakeAsync();
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { RedirectTo = elsewhere.BaseUrl };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", Header(response, "x-aimesh-deployment"));
        Assert.Single(primary.Received);
        Assert.Single(secondary.Received);
        Assert.Empty(elsewhere.Received);
    }

    [Fact]
    public async Task Chat_ProviderSetsACookie_ItIsNeverSentBack()
    {
        await using var fake = await StartFakeAsync();
        fake.Enqueue(new Fault { SetCookie = "__cf_bm=tenant-a-session; Path=/; HttpOnly" });
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();

        using var first = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: false));
        using var second = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: true));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.False(first.Headers.Contains("Set-Cookie"), "a provider's cookie reached the caller");
        Assert.Equal(2, fake.Received.Count);
        Assert.All(fake.Received, request => Assert.Null(request.Header("Cookie")));
    }

    [Fact]
    public async Task Chat_ProviderAnswersMalformedJson_FailsOver()
    {
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { MalformedJson = true };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: false));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", Header(response, "x-aimesh-deployment"));
    }

    [Fact]
    public async Task Stream_ErrorEventBeforeTheFirstChunk_FailsOver()
    {
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { StreamErrorAfterChunks = EventsBeforeText };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: true));
        var (data, _) = ParseSse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", Header(response, "x-aimesh-deployment"));
        Assert.Equal("[DONE]", data[^1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_FailsAfterTheFirstChunk_EndsWithAnErrorEventAndNoDone(bool errorEvent)
    {
        await using var primary = await StartFakeAsync();
        primary.StandingFault = errorEvent ? new Fault { StreamErrorAfterChunks = 4 } : new Fault { BreakStreamAfterChunks = 4 };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: true));
        var body = await response.Content.ReadAsStringAsync();
        var (data, _) = ParseSse(body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("[DONE]", body, StringComparison.Ordinal);
        var error = JsonNode.Parse(data[^1])!["error"]!;
        Assert.False(string.IsNullOrEmpty(error["message"]!.GetValue<string>()));
        Assert.Empty(secondary.Received);
    }

    [Fact]
    public async Task Breaker_DeploymentKeepsFailing_OpensAndRoutingSkipsIt()
    {
        await using var primary = await StartFakeAsync();
        primary.StandingFault = new Fault { Status = TransientStatus };
        await using var secondary = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", primary), ("secondary", secondary)));
        using var client = gateway.CreateClient();

        for (var i = 0; i < 8; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: i % 2 == 1, question: $"Question {i}?"));
            await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The breaker opened after 4 failures; the router's directory refreshes within a second.
        Assert.InRange(primary.Received.Count, 4, 6);
        Assert.Equal(8, secondary.Received.Count);
        var health = await client.GetFromJsonAsync<JsonNode>("/health");
        var row = health!["deployments"]!.AsArray().Single(d => d!["deploymentId"]!.GetValue<string>() == "primary")!;
        Assert.Equal("open", row["breakerState"]?.GetValue<string>());
    }

    [Fact]
    public async Task EnvironmentShortcut_ServesTheModelTheCallerNames()
    {
        await using var fake = await StartFakeAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(EnvironmentSettings(fake));

        ClientResult<ChatCompletion> result = await Sdk(gateway, Model).CompleteChatAsync([new UserChatMessage("Hello there")]);

        Assert.Equal(fake.Reply, result.Value.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, result.Value.FinishReason);
        Assert.Equal(Provider, Header(result.GetRawResponse(), "x-aimesh-deployment"));
        var received = Assert.Single(fake.Received);
        Assert.Equal(EnvironmentKeyValue, received.Header(KeyHeader.Header));
    }
}
