using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using Microsoft.Data.Sqlite;
using OpenAI;
using OpenAI.Chat;

namespace AiMesh.Tests.EndToEnd;

/// <summary>The chat path end to end: the official OpenAI SDK → embedded gateway → fake provider on loopback.</summary>
public sealed class ChatCompletionsTests
{
    private static ChatClient SdkClient(EmbeddedGateway gateway) =>
        new("gpt-4o-mini", new ApiKeyCredential(EmbeddedGateway.MasterKey), new OpenAIClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });

    [Fact]
    public async Task CompleteChat_WithOpenAiSdk_ReturnsProviderAnswerAndUsage()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));

        ChatCompletion completion = await SdkClient(gateway).CompleteChatAsync([new UserChatMessage("Say hello to the test suite please")]);

        Assert.Equal(fake.Reply, completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        var received = Assert.Single(fake.Received);
        Assert.Equal(FakeOpenAiProvider.PromptTokens(received.Body), completion.Usage.InputTokenCount);
        Assert.Equal(fake.CompletionTokens, completion.Usage.OutputTokenCount);
        Assert.Equal($"Bearer {Gateway.ProviderKey}", received.Authorization);
        Assert.Equal("gpt-4o-mini", received.Body?["model"]?.GetValue<string>());
    }

    [Fact]
    public async Task CompleteChat_ReturnsRoutingCostAndRateLimitHeaders()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
        request.Headers.Add("x-request-id", "my-request-42");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var prompt = FakeOpenAiProvider.PromptTokens(Assert.Single(fake.Received).Body);
        Assert.Equal("my-request-42", Header(response, "x-request-id"));
        Assert.Equal("openai", Header(response, "x-aimesh-deployment"));
        Assert.Equal("openai", Header(response, "x-aimesh-provider"));
        Assert.Equal("1", Header(response, "x-aimesh-attempts"));
        Assert.Equal(Gateway.MiniCost(prompt, fake.CompletionTokens), decimal.Parse(Header(response, "x-aimesh-cost-usd")!, CultureInfo.InvariantCulture));
        Assert.Equal("600", Header(response, "x-ratelimit-limit-requests"));
        Assert.Equal("599", Header(response, "x-ratelimit-remaining-requests"));
        Assert.NotNull(Header(response, "x-ratelimit-remaining-tokens"));
        Assert.NotNull(Header(response, "x-aimesh-cache"));
    }

    [Fact]
    public async Task CompleteChatStreaming_WithOpenAiSdk_StreamsTheAnswerAndUsage()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        var updates = 0;

        await foreach (var update in SdkClient(gateway).CompleteChatStreamingAsync(
            [new UserChatMessage("Say hello to the test suite please")],
            new ChatCompletionOptions()))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage = update.Usage ?? usage;
        }

        Assert.Equal(fake.Reply, text.ToString());
        Assert.True(updates > 2, $"expected several stream updates, got {updates}");
        var received = Assert.Single(fake.Received);
        Assert.True(received.Body?["stream"]?.GetValue<bool>());
        Assert.NotNull(usage);
        Assert.Equal(FakeOpenAiProvider.PromptTokens(received.Body), usage.InputTokenCount);
        Assert.Equal(fake.CompletionTokens, usage.OutputTokenCount);
    }

    [Fact]
    public async Task Stream_WithoutIncludeUsage_HasNoUsageChunkAndEndsWithDone()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var data = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Where(e => e.StartsWith("data: ", StringComparison.Ordinal)).Select(e => e["data: ".Length..]).ToList();
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data.SkipLast(1).Select(d => JsonNode.Parse(d)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]?.GetValue<string>()));
        Assert.DoesNotContain(chunks, c => c["usage"] is JsonObject);
        var text = string.Concat(chunks.Select(c => c["choices"]?[0]?["delta"]?["content"]?.GetValue<string>()));
        Assert.Equal(fake.Reply, text);
    }

    [Fact]
    public async Task Stream_WithIncludeUsage_EndsWithUsageChunkBeforeDone()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        var request = Gateway.ChatBody(stream: true);
        request["stream_options"] = new JsonObject { ["include_usage"] = true };

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", request);
        var body = await response.Content.ReadAsStringAsync();

        var data = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Where(e => e.StartsWith("data: ", StringComparison.Ordinal)).Select(e => e["data: ".Length..]).ToList();
        Assert.Equal("[DONE]", data[^1]);
        var last = JsonNode.Parse(data[^2])!;
        Assert.Empty(last["choices"]!.AsArray());
        Assert.Equal(fake.CompletionTokens, last["usage"]?["completion_tokens"]?.GetValue<int>());
    }

    [Fact]
    public async Task Stream_ThatArrivesWhole_SendsItsFirstChunkBeforeTheUsageIsCommitted()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        fake.Enqueue(new Fault { WholeStream = true });
        // Another connection holds SQLite's write lock: the usage commit at the stream's end must wait for it.
        await using var blocker = new SqliteConnection($"Data Source={gateway.DatabasePath}");
        blocker.Open();
        await using var hold = blocker.CreateCommand();
        hold.CommandText = "BEGIN IMMEDIATE";
        hold.ExecuteNonQuery();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody(stream: true)) };

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(10));
        var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[16 * 1024];
        var first = Encoding.UTF8.GetString(buffer, 0, await body.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.StartsWith("data: {", first, StringComparison.Ordinal);
        Assert.DoesNotContain("[DONE]", first, StringComparison.Ordinal);

        hold.CommandText = "ROLLBACK";
        hold.ExecuteNonQuery();
        var rest = await new StreamReader(body).ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.EndsWith("data: [DONE]\n\n", first + rest, StringComparison.Ordinal);
        Assert.Contains(fake.Reply.Split(' ')[^1], first + rest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_OfStreamingAndNonStreamingRequests_ReachesTheLedger()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var first = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        using var second = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        await second.Content.ReadAsStringAsync();
        var usage = await Gateway.WaitForUsageAsync(client, 2);

        var prompt = FakeOpenAiProvider.PromptTokens(fake.Received.First().Body);
        var row = Assert.Single(usage["rows"]!.AsArray())!;
        Assert.Equal("master", row["tenant"]?.GetValue<string>());
        Assert.Equal("gpt-4o-mini", row["model"]?.GetValue<string>());
        Assert.Equal(2, row["requests"]?.GetValue<long>());
        Assert.Equal(2 * prompt, row["promptTokens"]?.GetValue<long>());
        Assert.Equal(2 * fake.CompletionTokens, row["completionTokens"]?.GetValue<long>());
        Assert.Equal(2 * Gateway.MiniCost(prompt, fake.CompletionTokens), row["costUsd"]?.GetValue<decimal>());
    }

    [Fact]
    public async Task Models_ListsConfiguredModelsAndAliases()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["AiMesh:Deployments:0:Id"] = "primary",
            ["AiMesh:Deployments:0:Provider"] = "openai-compatible",
            ["AiMesh:Deployments:0:BaseUrl"] = fake.BaseUrl,
            ["AiMesh:Deployments:0:Model"] = "gpt-4o-mini",
            ["AiMesh:Deployments:0:Aliases:0"] = "fast",
        });
        using var client = gateway.CreateClient();

        var models = await client.GetFromJsonAsync<JsonNode>("/v1/models");

        Assert.Equal("list", models?["object"]?.GetValue<string>());
        var ids = models!["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToList();
        Assert.Equal(["fast", "gpt-4o-mini"], ids);
    }

    [Fact]
    public async Task UnknownModel_Returns404InOpenAiShape()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["AiMesh:Deployments:0:Id"] = "primary",
            ["AiMesh:Deployments:0:Provider"] = "openai-compatible",
            ["AiMesh:Deployments:0:BaseUrl"] = fake.BaseUrl,
            ["AiMesh:Deployments:0:Model"] = "gpt-4o-mini",
        });
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(model: "no-such-model"));
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("model_not_found", error?["error"]?["code"]?.GetValue<string>());
        Assert.Contains("no-such-model", error?["error"]?["message"]?.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(fake.Received);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.First() : null;
}
