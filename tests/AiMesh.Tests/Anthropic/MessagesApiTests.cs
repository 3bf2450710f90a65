using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using AiMesh.Tests.EndToEnd;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Anthropic;

/// <summary>
/// The Anthropic-compatible surface <c>POST /v1/messages</c> over real sockets: raw HTTP in Anthropic's
/// format → embedded gateway → a fake OpenAI, Anthropic or Gemini provider, answered in Anthropic's format.
/// </summary>
public sealed class MessagesApiTests
{
    private const string ProviderKey = "plain-test-key-7f3a9c";
    private const string ToolArguments = "{\"city\":\"Zürich\",\"unit\":\"celsius\"}";

    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    [InlineData("gemini")]
    public async Task Messages_WithToolAndImage_ReturnsAnthropicMessage(string provider)
    {
        await using var fake = await Upstream.StartAsync(provider);
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = AnthropicClient(gateway);

        using var response = await client.PostAsJsonAsync("/v1/messages", WeatherRequest(stream: false));
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("message", message["type"]!.GetValue<string>());
        Assert.Equal("assistant", message["role"]!.GetValue<string>());
        Assert.StartsWith("msg_", message["id"]!.GetValue<string>(), StringComparison.Ordinal);
        var content = message["content"]!.AsArray();
        Assert.Equal(fake.Reply, content.Single(b => b!["type"]!.GetValue<string>() == "text")!["text"]!.GetValue<string>());
        var toolUse = content.Single(b => b!["type"]!.GetValue<string>() == "tool_use")!;
        Assert.Equal(ToolName, toolUse["name"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(toolUse["id"]!.GetValue<string>()));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(ToolArguments), toolUse["input"]), toolUse["input"]!.ToJsonString());
        Assert.Equal("tool_use", message["stop_reason"]!.GetValue<string>());
        Assert.Equal(fake.CompletionTokens, message["usage"]!["output_tokens"]!.GetValue<int>());
        Assert.True(message["usage"]!["input_tokens"]!.GetValue<int>() > 0);
        Assert.Equal("primary", Header(response, "x-aimesh-deployment"));
        Assert.Equal(provider, Header(response, "x-aimesh-provider"));
        Assert.NotNull(Header(response, "x-aimesh-cost-usd"));
        Assert.Single(fake.Bodies());
    }

    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    [InlineData("gemini")]
    public async Task MessagesStreaming_WithToolAndImage_EmitsAnthropicEvents(string provider)
    {
        await using var fake = await Upstream.StartAsync(provider);
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = AnthropicClient(gateway);

        using var response = await client.PostAsJsonAsync("/v1/messages", WeatherRequest(stream: true));
        var text = await response.Content.ReadAsStringAsync();
        var events = ParseEvents(text);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("message_start", events[0].Name);
        Assert.Equal("ping", events[1].Name);
        Assert.True(events[0].Data["message"]!["usage"]!["input_tokens"]!.GetValue<int>() > 0);
        Assert.Equal("message_stop", events[^1].Name);
        Assert.All(events, e => Assert.Equal(e.Name, e.Data["type"]!.GetValue<string>()));
        Assert.StartsWith("msg_", events[0].Data["message"]!["id"]!.GetValue<string>(), StringComparison.Ordinal);
        var starts = events.Where(e => e.Name == "content_block_start").Select(e => e.Data["index"]!.GetValue<int>()).ToList();
        var stops = events.Where(e => e.Name == "content_block_stop").Select(e => e.Data["index"]!.GetValue<int>()).ToList();
        Assert.Equal(starts, stops);
        var deltas = events.Where(e => e.Name == "content_block_delta").Select(e => e.Data["delta"]!).ToList();
        Assert.Equal(fake.Reply, string.Concat(deltas.Where(d => d["type"]!.GetValue<string>() == "text_delta").Select(d => d["text"]!.GetValue<string>())));
        var arguments = string.Concat(deltas.Where(d => d["type"]!.GetValue<string>() == "input_json_delta").Select(d => d["partial_json"]!.GetValue<string>()));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(ToolArguments), JsonNode.Parse(arguments)), arguments);
        var toolBlock = events.Single(e => e.Name == "content_block_start" && e.Data["content_block"]!["type"]!.GetValue<string>() == "tool_use");
        Assert.Equal(ToolName, toolBlock.Data["content_block"]!["name"]!.GetValue<string>());
        var messageDelta = Assert.Single(events, e => e.Name == "message_delta");
        Assert.Equal("tool_use", messageDelta.Data["delta"]!["stop_reason"]!.GetValue<string>());
        Assert.Equal(fake.CompletionTokens, messageDelta.Data["usage"]!["output_tokens"]!.GetValue<int>());
        Assert.Equal(provider, Header(response, "x-aimesh-provider"));
        Assert.NotNull(ParseSse(text).Cost);
    }

    [Fact]
    public async Task Messages_ToolResultConversation_ReachesProviderAsToolMessages()
    {
        await using var fake = await Upstream.StartAsync("openai");
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = AnthropicClient(gateway);
        var request = new JsonObject
        {
            ["model"] = Upstream.OpenAiModel,
            ["max_tokens"] = 200,
            ["system"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "Be terse." }),
            ["stop_sequences"] = new JsonArray("END"),
            ["temperature"] = 0.5,
            ["top_k"] = 40,
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = "Weather in Zürich?" },
                new JsonObject
                {
                    ["role"] = "assistant",
                    ["content"] = new JsonArray(new JsonObject { ["type"] = "tool_use", ["id"] = "toolu_1", ["name"] = ToolName, ["input"] = new JsonObject { ["city"] = "Zürich" } }),
                },
                new JsonObject
                {
                    ["role"] = "user",
                    ["content"] = new JsonArray(
                        new JsonObject { ["type"] = "tool_result", ["tool_use_id"] = "toolu_1", ["content"] = "21 °C, sunny" },
                        new JsonObject { ["type"] = "text", ["text"] = "Thanks!" }),
                }),
        };

        using var response = await client.PostAsJsonAsync("/v1/messages", request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(fake.Bodies())!;
        var messages = sent["messages"]!.AsArray();
        Assert.Equal(["system", "user", "assistant", "tool", "user"], messages.Select(m => m!["role"]!.GetValue<string>()));
        Assert.Equal("Be terse.", messages[0]!["content"]!.GetValue<string>());
        Assert.Equal("toolu_1", messages[2]!["tool_calls"]![0]!["id"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["city"] = "Zürich" }, JsonNode.Parse(messages[2]!["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>())));
        Assert.Equal("toolu_1", messages[3]!["tool_call_id"]!.GetValue<string>());
        Assert.Equal("21 °C, sunny", messages[3]!["content"]!.GetValue<string>());
        Assert.Equal(200, sent["max_tokens"]!.GetValue<int>());
        Assert.Equal("END", sent["stop"]![0]!.GetValue<string>());
        Assert.Equal(40, sent["top_k"]!.GetValue<int>());
    }

    [Fact]
    public async Task Messages_NoKey_IsAnthropicAuthenticationError()
    {
        await using var fake = await Upstream.StartAsync("openai");
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = gateway.CreateClient(key: null);

        using var response = await client.PostAsJsonAsync("/v1/messages", WeatherRequest(stream: false));

        var message = await AssertErrorAsync(response, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.Contains("x-api-key", message, StringComparison.Ordinal);
        Assert.Empty(fake.Bodies());
    }

    [Fact]
    public async Task Messages_ThinkingDisabled_IsAnsweredAsWithoutIt()
    {
        await using var fake = await Upstream.StartAsync("openai");
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = AnthropicClient(gateway);
        var body = WeatherRequest(stream: false);
        body["thinking"] = new JsonObject { ["type"] = "disabled" };

        using var response = await client.PostAsJsonAsync("/v1/messages", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(fake.Bodies())!;
        Assert.Null(sent["thinking"]);
    }

    [Fact]
    public async Task Messages_BearerKey_IsAccepted()
    {
        await using var fake = await Upstream.StartAsync("openai");
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/messages", WeatherRequest(stream: false));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "max_tokens")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"system\",\"content\":\"Hi\"}]}", "role")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"file\"}}]}]}", "image source")]
    [InlineData("{\"model\":", "JSON")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"temperature\":1.5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "temperature: must be between 0 and 1")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"top_k\":-3,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "top_k")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"tool\",\"name\":\"nope\"},\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "tool_choice.name")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_9\",\"content\":\"r\"}]}]}", "answers no tool_use")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"name\":\"f\",\"input\":{}}]}]}", "needs an id and a name")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"text/plain\",\"data\":\"aGk=\"}}]}]}", "media_type")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"%%%\"}}]}]}", "not valid base64")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"stop_sequences\":\"END\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "stop_sequences")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"tools\":{\"name\":\"x\"},\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "tools: must be an array")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "at least one content block")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":2048,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "extended thinking is not supported")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"thinking\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "thinking: must be an object")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"thinking\":{\"type\":7},\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "thinking: must be an object")]
    public async Task Messages_InvalidBody_IsAnthropicInvalidRequestError(string body, string mentioned)
    {
        await using var fake = await Upstream.StartAsync("openai");
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = AnthropicClient(gateway);

        using var response = await client.PostAsync("/v1/messages", new StringContent(body, Encoding.UTF8, "application/json"));

        var message = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.Contains(mentioned, message, StringComparison.Ordinal);
        Assert.Empty(fake.Bodies());
    }

    [Fact]
    public async Task Messages_OverRateLimit_IsAnthropicRateLimitErrorWithRetryAfter()
    {
        await using var fake = await Upstream.StartAsync("openai");
        var settings = fake.Settings();
        settings["AiMesh:Quotas:Default:RequestsPerMinute"] = "1";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = AnthropicClient(gateway);

        using var first = await client.PostAsJsonAsync("/v1/messages", WeatherRequest(stream: false));
        using var second = await client.PostAsJsonAsync("/v1/messages", WeatherRequest(stream: false));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        await AssertErrorAsync(second, HttpStatusCode.TooManyRequests, "rate_limit_error");
        Assert.NotNull(second.Headers.RetryAfter);
    }

    [Fact]
    public async Task CountTokens_IsTheEstimateQuotasReserve_AndNeverReachesAProviderOrTheLedger()
    {
        await using var fake = await Upstream.StartAsync("openai");
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = AnthropicClient(gateway);
        var body = WeatherRequest(stream: false);
        body.Remove("max_tokens");
        var (translated, _) = AiMesh.Router.Anthropic.AnthropicRequests.Translate(JsonNode.Parse(WeatherRequest(stream: false).ToJsonString())!.AsObject());

        using var response = await client.PostAsJsonAsync("/v1/messages/count_tokens", body);
        var count = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        using var message = await client.PostAsJsonAsync("/v1/messages", WeatherRequest(stream: false));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(AiMesh.Router.Pipeline.TokenEstimator.EstimatePromptTokens(translated!), count["input_tokens"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.OK, message.StatusCode);
        Assert.Single(fake.Bodies());
        using var admin = gateway.CreateClient();
        var usage = await Gateway.WaitForUsageAsync(admin, 1);
        Assert.Equal(1, usage["total"]!["requests"]!.GetValue<long>());
    }

    [Fact]
    public async Task CountTokens_CountsAgainstRequestsPerMinute()
    {
        await using var fake = await Upstream.StartAsync("openai");
        var settings = fake.Settings();
        settings["AiMesh:Quotas:Default:RequestsPerMinute"] = "2";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = AnthropicClient(gateway);
        var body = new JsonObject { ["model"] = "gpt-4o-mini", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }) };

        using var first = await client.PostAsJsonAsync("/v1/messages/count_tokens", body);
        using var second = await client.PostAsJsonAsync("/v1/messages/count_tokens", body);
        using var third = await client.PostAsJsonAsync("/v1/messages/count_tokens", body);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        await AssertErrorAsync(third, HttpStatusCode.TooManyRequests, "rate_limit_error");
        Assert.Empty(fake.Bodies());
    }

    [Theory]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"messages\":[]}", HttpStatusCode.BadRequest, "invalid_request_error")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", HttpStatusCode.BadRequest, "invalid_request_error")]
    [InlineData("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}", HttpStatusCode.BadRequest, "invalid_request_error")]
    [InlineData("not json", HttpStatusCode.BadRequest, "invalid_request_error")]
    public async Task CountTokens_InvalidBody_IsAnthropicError(string body, HttpStatusCode status, string type)
    {
        await using var fake = await Upstream.StartAsync("openai");
        await using var gateway = await EmbeddedGateway.StartAsync(fake.Settings());
        using var client = AnthropicClient(gateway);

        using var response = await client.PostAsync("/v1/messages/count_tokens", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertErrorAsync(response, status, type);
    }

    [Fact]
    public async Task CountTokens_NoKeyOrUnknownModel_IsAnthropicError()
    {
        await using var fake = await FakeAnthropicProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(AiMesh.Tests.Providers.ProviderTestSupport.Settings("anthropic", "claude-sonnet-4-5", ProviderKey, ("primary", fake.BaseUrl)));
        using var client = AnthropicClient(gateway);
        using var anonymous = gateway.CreateClient(key: null);
        var body = new JsonObject { ["model"] = "no-such-model", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }) };

        using var unknown = await client.PostAsJsonAsync("/v1/messages/count_tokens", body);
        using var unauthenticated = await anonymous.PostAsJsonAsync("/v1/messages/count_tokens", body);

        await AssertErrorAsync(unknown, HttpStatusCode.NotFound, "not_found_error");
        await AssertErrorAsync(unauthenticated, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task Messages_UnknownModel_IsAnthropicNotFoundError()
    {
        await using var fake = await FakeAnthropicProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(AiMesh.Tests.Providers.ProviderTestSupport.Settings("anthropic", "claude-sonnet-4-5", ProviderKey, ("primary", fake.BaseUrl)));
        using var client = AnthropicClient(gateway);
        var request = WeatherRequest(stream: false);
        request["model"] = "no-such-model";

        using var response = await client.PostAsJsonAsync("/v1/messages", request);

        await AssertErrorAsync(response, HttpStatusCode.NotFound, "not_found_error");
    }

    private static HttpClient AnthropicClient(EmbeddedGateway gateway)
    {
        var client = gateway.CreateClient(key: null);
        client.DefaultRequestHeaders.Add("x-api-key", EmbeddedGateway.MasterKey);
        client.DefaultRequestHeaders.Add("anthropic-version", "2023-06-01");
        return client;
    }

    private static async Task<string> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string type)
    {
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("error", body["type"]!.GetValue<string>());
        Assert.Equal(type, body["error"]!["type"]!.GetValue<string>());
        var message = body["error"]!["message"]!.GetValue<string>();
        Assert.False(string.IsNullOrEmpty(message));
        return message;
    }

    /// <summary>A Messages API request with a system prompt, text, a base64 image, and the weather tool.</summary>
    private static JsonObject WeatherRequest(bool stream) => new()
    {
        ["model"] = "any-model",
        ["max_tokens"] = 512,
        ["system"] = "You are a terse weather assistant.",
        ["messages"] = new JsonArray(new JsonObject
        {
            ["role"] = "user",
            ["content"] = new JsonArray(
                new JsonObject { ["type"] = "text", ["text"] = "What is the weather where this picture was taken?" },
                new JsonObject { ["type"] = "image", ["source"] = new JsonObject { ["type"] = "base64", ["media_type"] = "image/png", ["data"] = Convert.ToBase64String(Png) } }),
        }),
        ["tools"] = new JsonArray(new JsonObject { ["name"] = ToolName, ["description"] = "Current weather of a city", ["input_schema"] = WeatherParameters.DeepClone() }),
        ["tool_choice"] = new JsonObject { ["type"] = "auto" },
        ["stream"] = stream,
    };

    private static List<(string Name, JsonNode Data)> ParseEvents(string body)
    {
        var events = new List<(string, JsonNode)>();
        foreach (var block in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var lines = block.Split('\n');
            var name = lines.FirstOrDefault(l => l.StartsWith("event: ", StringComparison.Ordinal))?["event: ".Length..];
            var data = lines.FirstOrDefault(l => l.StartsWith("data: ", StringComparison.Ordinal))?["data: ".Length..];
            if (name is not null && data is not null)
            {
                events.Add((name, JsonNode.Parse(data)!));
            }
        }

        return events;
    }

    /// <summary>One fake provider of the given type, serving every model name as deployment "primary".</summary>
    private sealed class Upstream : IAsyncDisposable
    {
        public const string OpenAiModel = "gpt-4o-mini";

        private FakeOpenAiProvider? _openAi;
        private FakeProviderServer? _server;
        private string _provider = string.Empty;

        public string Reply => _openAi?.Reply ?? _server!.Reply;

        public int CompletionTokens => _openAi?.CompletionTokens ?? _server!.CompletionTokens;

        public static async Task<Upstream> StartAsync(string provider)
        {
            var upstream = new Upstream { _provider = provider };
            switch (provider)
            {
                case "openai":
                    upstream._openAi = await FakeOpenAiProvider.StartAsync();
                    upstream._openAi.ToolCallArguments = ToolArguments;
                    break;
                case "anthropic":
                    upstream._server = await FakeAnthropicProvider.StartAsync();
                    break;
                default:
                    upstream._server = await FakeGeminiProvider.StartAsync();
                    break;
            }

            if (upstream._server is not null)
            {
                upstream._server.ToolArguments = ToolArguments;
            }

            return upstream;
        }

        public Dictionary<string, string?> Settings()
        {
            var settings = AiMesh.Tests.Providers.ProviderTestSupport.Settings(_provider, "*", ProviderKey, ("primary", _openAi?.BaseUrl ?? _server!.BaseUrl));
            return settings;
        }

        public List<JsonNode?> Bodies() => (_openAi?.Received ?? _server!.Received).Select(r => r.Body).ToList();

        public async ValueTask DisposeAsync()
        {
            if (_openAi is not null)
            {
                await _openAi.DisposeAsync();
            }

            if (_server is not null)
            {
                await _server.DisposeAsync();
            }
        }
    }
}
