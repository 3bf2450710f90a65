using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>Provider type <c>ollama</c> end to end against <see cref="FakeOllamaProvider"/>.</summary>
public sealed class OllamaEndToEndTests : ProviderEndToEndTests<FakeOllamaProvider>
{
    protected override string Provider => "ollama";

    protected override string Model => "mistral-small3.1";

    protected override (string Header, string Value) KeyHeader => ("Authorization", $"Bearer {Key}");

    protected override Task<FakeOllamaProvider> StartFakeAsync() => FakeOllamaProvider.StartAsync();

    /// <summary>OLLAMA_HOST needs no key: none is sent.</summary>
    protected override string? EnvironmentKeyValue => null;

    protected override Dictionary<string, string?> EnvironmentSettings(FakeOllamaProvider fake) => new() { ["OLLAMA_HOST"] = fake.BaseUrl };

    protected override void AssertTranslatedRequest(JsonNode body)
    {
        var messages = body["messages"]!.AsArray();
        Assert.Equal("system", messages[0]!["role"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Png), messages[1]!["images"]![0]!.GetValue<string>());
        Assert.Equal(ToolName, body["tools"]![0]!["function"]!["name"]!.GetValue<string>());
        Assert.NotNull(body["stream"]);
    }

    /// <summary>With image fetching off, Ollama cannot take an image URL: the router tries a deployment that can.</summary>
    [Fact]
    public async Task Chat_ImageUrl_FailsOverToADeploymentThatTakesIt()
    {
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var openAi = await FakeOpenAiProvider.StartAsync();
        var settings = Settings(("local", ollama));
        settings["AiMesh:Deployments:1:Id"] = "cloud";
        settings["AiMesh:Deployments:1:Provider"] = "openai-compatible";
        settings["AiMesh:Deployments:1:BaseUrl"] = openAi.BaseUrl;
        settings["AiMesh:Deployments:1:Model"] = Model;
        settings["AiMesh:Deployments:1:Priority"] = "1";
        settings["AiMesh:ImageFetch:Enabled"] = "false";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        var body = WeatherBody(Model, stream: false);
        body["messages"]![1]!["content"]![1]!["image_url"]!["url"] = "https://example.com/street.jpg";

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("cloud", Header(response, "x-aimesh-deployment"));
        Assert.Empty(ollama.Received);
        Assert.Single(openAi.Received);
    }

    [Fact]
    public async Task Chat_ImageUrlAndNoOtherDeployment_Is400ThatSaysWhy()
    {
        await using var ollama = await FakeOllamaProvider.StartAsync();
        var settings = Settings(("local", ollama));
        settings["AiMesh:ImageFetch:Enabled"] = "false";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        var body = WeatherBody(Model, stream: true);
        body["messages"]![1]!["content"]![1]!["image_url"]!["url"] = "https://example.com/street.jpg";

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", body);
        var error = (await response.Content.ReadFromJsonAsync<JsonNode>())!["error"]!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("unsupported_by_provider", error["code"]!.GetValue<string>());
        Assert.Contains("base64", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(ollama.Received);
    }
}
