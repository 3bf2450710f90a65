using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>Provider type <c>gemini</c> end to end against <see cref="FakeGeminiProvider"/>.</summary>
public sealed class GeminiEndToEndTests : ProviderEndToEndTests<FakeGeminiProvider>
{
    protected override string Provider => "gemini";

    protected override string Model => "gemini-2.5-flash";

    protected override string Key => "AIzaSyTestKey-0123456789abcdef";

    protected override (string Header, string Value) KeyHeader => ("x-goog-api-key", Key);

    protected override async Task<FakeGeminiProvider> StartFakeAsync()
    {
        var fake = await FakeGeminiProvider.StartAsync();
        fake.CachedTokens = 6;
        return fake;
    }

    protected override Dictionary<string, string?> EnvironmentSettings(FakeGeminiProvider fake) => new()
    {
        ["GEMINI_API_KEY"] = Key,
        ["GEMINI_BASE_URL"] = fake.BaseUrl,
    };

    protected override void AssertTranslatedRequest(JsonNode body)
    {
        Assert.Equal("You are a terse weather assistant.", body["systemInstruction"]!["parts"]![0]!["text"]!.GetValue<string>());
        var parts = Assert.Single(body["contents"]!.AsArray())!["parts"]!.AsArray();
        Assert.NotNull(parts[0]!["text"]);
        Assert.Equal("image/png", parts[1]!["inlineData"]!["mimeType"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Png), parts[1]!["inlineData"]!["data"]!.GetValue<string>());
        var declaration = body["tools"]![0]!["functionDeclarations"]![0]!;
        Assert.Equal(ToolName, declaration["name"]!.GetValue<string>());
        Assert.Equal("OBJECT", declaration["parameters"]!["type"]!.GetValue<string>());
        Assert.Null(declaration["parameters"]!["additionalProperties"]);
    }

    [Fact]
    public async Task Stream_UsesStreamGenerateContentWithAltSse()
    {
        await using var fake = await FakeGeminiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: true));
        await response.Content.ReadAsStringAsync();

        var received = Assert.Single(fake.Received);
        Assert.Equal($"/v1beta/models/{Model}:streamGenerateContent", received.Path);
        Assert.Equal("?alt=sse", received.Query);
    }

    [Fact]
    public async Task Chat_ToolCallComesBackWithItsThoughtSignature()
    {
        await using var fake = await FakeGeminiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();
        using var first = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: false));
        var call = (await first.Content.ReadFromJsonAsync<JsonNode>())!["choices"]![0]!["message"]!["tool_calls"]![0]!;
        var body = WeatherBody(Model, stream: false, question: "And now?");
        var messages = body["messages"]!.AsArray();
        messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = new JsonArray(call.DeepClone()) });
        messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = call["id"]!.GetValue<string>(), ["content"] = "{\"temperature\":-2}" });

        using var second = await client.PostAsJsonAsync("/v1/chat/completions", body);

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var contents = fake.Received.Last().Body!["contents"]!.AsArray();
        Assert.Equal(["user", "model", "user"], contents.Select(c => c!["role"]!.GetValue<string>()));
        Assert.Equal(FakeGeminiProvider.ThoughtSignature, contents[1]!["parts"]![0]!["thoughtSignature"]!.GetValue<string>());
        Assert.Equal(ToolName, contents[2]!["parts"]![0]!["functionResponse"]!["name"]!.GetValue<string>());
        Assert.Equal(-2, contents[2]!["parts"]![0]!["functionResponse"]!["response"]!["temperature"]!.GetValue<int>());
    }

    [Fact]
    public async Task Chat_SafetyFinish_IsContentFilter()
    {
        await using var fake = await FakeGeminiProvider.StartAsync();
        fake.FinishReason = "SAFETY";
        await using var gateway = await EmbeddedGateway.StartAsync(Settings(("primary", fake)));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody(Model, stream: false));
        var answer = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal("content_filter", answer!["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }
}
