using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>Provider type <c>anthropic</c> end to end against <see cref="FakeAnthropicProvider"/>.</summary>
public sealed class AnthropicEndToEndTests : ProviderEndToEndTests<FakeAnthropicProvider>
{
    protected override string Provider => "anthropic";

    protected override string Model => "claude-sonnet-4-5";

    protected override string Key => "sk-ant-api03-test-key-0123456789";

    protected override int TransientStatus => 529;

    protected override int EventsBeforeText => 3;

    protected override (string Header, string Value) KeyHeader => ("x-api-key", Key);

    protected override async Task<FakeAnthropicProvider> StartFakeAsync()
    {
        var fake = await FakeAnthropicProvider.StartAsync();
        fake.CachedTokens = 8;
        return fake;
    }

    protected override Dictionary<string, string?> EnvironmentSettings(FakeAnthropicProvider fake) => new()
    {
        ["ANTHROPIC_API_KEY"] = Key,
        ["ANTHROPIC_BASE_URL"] = fake.BaseUrl,
    };

    protected override void AssertTranslatedRequest(JsonNode body)
    {
        Assert.Equal("You are a terse weather assistant.", body["system"]!.GetValue<string>());
        Assert.Equal(AnthropicWire.DefaultMaxTokens, body["max_tokens"]!.GetValue<int>());
        var content = Assert.Single(body["messages"]!.AsArray())!["content"]!.AsArray();
        Assert.Equal("text", content[0]!["type"]!.GetValue<string>());
        Assert.Equal("image", content[1]!["type"]!.GetValue<string>());
        Assert.Equal("image/png", content[1]!["source"]!["media_type"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Png), content[1]!["source"]!["data"]!.GetValue<string>());
        Assert.Equal(ToolName, body["tools"]![0]!["name"]!.GetValue<string>());
        Assert.Equal("object", body["tools"]![0]!["input_schema"]!["type"]!.GetValue<string>());
        Assert.Equal("auto", body["tool_choice"]?["type"]?.GetValue<string>() ?? "auto");
    }

    [Fact]
    public async Task Chat_ToolResultConversation_ReachesAnthropicAsToolResultBlocks()
    {
        await using var fake = await FakeAnthropicProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();
        var body = WeatherBody(Model, stream: false);
        var messages = body["messages"]!.AsArray();
        messages.Add(new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = null,
            ["tool_calls"] = new JsonArray(new JsonObject
            {
                ["id"] = FakeAnthropicProvider.ToolUseId,
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = ToolName, ["arguments"] = fake.ToolArguments },
            }),
        });
        messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = FakeAnthropicProvider.ToolUseId, ["content"] = "{\"temperature\":-2}" });
        body["tool_choice"] = "none";

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", body);
        var answer = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("stop", answer!["choices"]![0]!["finish_reason"]!.GetValue<string>());
        var sent = Assert.Single(fake.Received).Body!["messages"]!.AsArray();
        Assert.Equal(["user", "assistant", "user"], sent.Select(m => m!["role"]!.GetValue<string>()));
        Assert.Equal("tool_use", sent[1]!["content"]![0]!["type"]!.GetValue<string>());
        Assert.Equal("Zürich", sent[1]!["content"]![0]!["input"]!["city"]!.GetValue<string>());
        Assert.Equal("tool_result", sent[2]!["content"]![0]!["type"]!.GetValue<string>());
    }
}
