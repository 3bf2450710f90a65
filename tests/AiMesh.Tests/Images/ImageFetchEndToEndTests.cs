using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Testing.Fakes;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Images;

/// <summary>
/// Image URLs through the embedded gateway to providers that need inline images (Ollama, Gemini), with a real
/// image server on 127.0.0.1 standing in for whatever a caller might aim the gateway at.
/// </summary>
public sealed class ImageFetchEndToEndTests
{
    private const string OllamaModel = "mistral-small3.1";
    private const string GeminiModel = "gemini-2.5-flash";

    private static Dictionary<string, string?> OllamaSettings(FakeOllamaProvider ollama, params (string Key, string Value)[] imageFetch)
    {
        var settings = Settings("ollama", OllamaModel, "plain-test-key-7f3a9c", ("local", ollama.BaseUrl));
        foreach (var (key, value) in imageFetch)
        {
            settings[$"AiMesh:ImageFetch:{key}"] = value;
        }

        return settings;
    }

    /// <summary>http allowed, so that only the address check stands between the caller and the loopback server.</summary>
    private static (string, string)[] HttpAllowed => [("AllowedSchemes:0", "http"), ("AllowedSchemes:1", "https")];

    private static (string, string)[] PrivateAllowed => [("AllowedSchemes:0", "http"), ("AllowPrivateNetworks", "true")];

    private static JsonObject Body(string model, string imageUrl, bool stream = false)
    {
        var body = WeatherBody(model, stream);
        body["messages"]![1]!["content"]![1]!["image_url"]!["url"] = imageUrl;
        return body;
    }

    private static async Task<JsonNode> ErrorOf(HttpResponseMessage response) => (await response.Content.ReadFromJsonAsync<JsonNode>())!["error"]!;

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("2130706433")]
    [InlineData("[::ffff:127.0.0.1]")]
    public async Task Chat_ImageOnLoopback_Is400WithoutFailoverAndTheServerIsNeverHit(string host)
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var openAi = await FakeOpenAiProvider.StartAsync();
        var settings = OllamaSettings(ollama, HttpAllowed);
        settings["AiMesh:Deployments:1:Id"] = "cloud";
        settings["AiMesh:Deployments:1:Provider"] = "openai-compatible";
        settings["AiMesh:Deployments:1:BaseUrl"] = openAi.BaseUrl;
        settings["AiMesh:Deployments:1:Model"] = OllamaModel;
        settings["AiMesh:Deployments:1:Priority"] = "1";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, $"http://{host}:{images.Port}/image.png"));
        var text = await response.Content.ReadAsStringAsync();
        var error = JsonNode.Parse(text)!["error"]!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal("image_url_refused", error["code"]!.GetValue<string>());
        Assert.Equal("messages[1].content[1]", error["param"]!.GetValue<string>());
        Assert.Contains("private or reserved address", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", text, StringComparison.Ordinal);
        Assert.Equal("1", Header(response, "x-aimesh-attempts"));
        Assert.Equal(0, images.TotalHits);
        Assert.Empty(ollama.Received);
        Assert.Empty(openAi.Received);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_HttpImageUnderDefaultPolicy_Is400AndTheServerIsNeverHit(bool stream)
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, images.Url("/image.png"), stream));
        var error = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("image_url_refused", error["code"]!.GetValue<string>());
        Assert.Equal("messages[1].content[1]", error["param"]!.GetValue<string>());
        Assert.Equal(0, images.TotalHits);
        Assert.Empty(ollama.Received);
    }

    [Fact]
    public async Task Chat_RefusedImagesOverAndOver_LeaveTheDeploymentServing()
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama, HttpAllowed));
        using var client = gateway.CreateClient();

        for (var i = 0; i < 8; i++)
        {
            using var refused = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, images.Url("/image.png")));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, PngDataUrl));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("local", Header(response, "x-aimesh-deployment"));
        Assert.Equal(0, images.TotalHits);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_PrivateNetworksAllowed_OllamaReceivesTheImageInline(bool stream)
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama, PrivateAllowed));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, images.Url("/image.png"), stream));
        await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(ollama.Received);
        Assert.Equal(Convert.ToBase64String(FakeImageServer.Png), received.Body!["messages"]![1]!["images"]![0]!.GetValue<string>());
        Assert.Equal(1, images.Hits["/image.png"]);
    }

    [Fact]
    public async Task Chat_Gemini_ImageUrlIsFetchedAndSentAsInlineData()
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var gemini = await FakeGeminiProvider.StartAsync();
        var settings = Settings("gemini", GeminiModel, "AIzaSyTestKey-0123456789abcdef", ("gemini", gemini.BaseUrl));
        settings["AiMesh:ImageFetch:AllowedSchemes:0"] = "http";
        settings["AiMesh:ImageFetch:AllowPrivateNetworks"] = "true";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(GeminiModel, images.Url("/image.png")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var parts = Assert.Single(gemini.Received).Body!["contents"]![0]!["parts"]!.AsArray();
        Assert.Null(parts[1]!["fileData"]);
        Assert.Equal("image/png", parts[1]!["inlineData"]!["mimeType"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(FakeImageServer.Png), parts[1]!["inlineData"]!["data"]!.GetValue<string>());
    }

    [Fact]
    public async Task Chat_Gemini_ImageOnLoopback_Is400AndTheServerIsNeverHit()
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var gemini = await FakeGeminiProvider.StartAsync();
        var settings = Settings("gemini", GeminiModel, "AIzaSyTestKey-0123456789abcdef", ("gemini", gemini.BaseUrl));
        settings["AiMesh:ImageFetch:AllowedSchemes:0"] = "http";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(GeminiModel, $"http://localhost:{images.Port}/image.png"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("image_url_refused", (await ErrorOf(response))["code"]!.GetValue<string>());
        Assert.Equal(0, images.TotalHits);
        Assert.Empty(gemini.Received);
    }

    [Fact]
    public async Task Chat_RedirectToABlockedHost_Is400AndTheTargetIsNeverHit()
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama, [.. PrivateAllowed, ("BlockedHosts:0", "localhost")]));
        using var client = gateway.CreateClient();
        var url = images.Url("/redirect?to=" + Uri.EscapeDataString($"http://localhost:{images.Port}/image.png"));

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, url));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("image_url_refused", (await ErrorOf(response))["code"]!.GetValue<string>());
        Assert.Equal(1, images.Hits["/redirect"]);
        Assert.False(images.Hits.ContainsKey("/image.png"));
        Assert.Empty(ollama.Received);
    }

    [Fact]
    public async Task Chat_ImageOverMaxBytes_Is400AndTheDownloadIsCutOff()
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama, [.. PrivateAllowed, ("MaxBytes", "262144")]));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, images.BigUrl));
        var error = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("image_too_large", error["code"]!.GetValue<string>());
        Assert.Contains("262144 bytes", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var written = await images.BigEnded.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.False(images.BigCompleted, $"the server wrote all {written} bytes; hits: {string.Join(",", images.Hits)}");
        Assert.True(written < FakeImageServer.BigBytes / 2, $"the server wrote {written} bytes before the gateway hung up");
        Assert.Empty(ollama.Received);
    }

    [Fact]
    public async Task Chat_HtmlInsteadOfAnImage_Is400NamingTheType()
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama, PrivateAllowed));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, images.Url("/page.html")));
        var error = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("image_type_not_allowed", error["code"]!.GetValue<string>());
        Assert.Contains("text/html", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(ollama.Received);
    }

    [Fact]
    public async Task Chat_SlowImageServer_Is400AtTheTimeLimitWithoutHanging()
    {
        await using var images = await FakeImageServer.StartAsync();
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama, [.. PrivateAllowed, ("Timeout", "00:00:01")]));
        using var client = gateway.CreateClient();
        client.Timeout = TimeSpan.FromSeconds(30);
        var started = Stopwatch.StartNew();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, images.Url("/slow.png")));
        var error = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("image_fetch_timeout", error["code"]!.GetValue<string>());
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
        Assert.Empty(ollama.Received);
    }

    [Fact]
    public async Task Chat_FileSchemeImage_IsRejectedByValidation()
    {
        await using var ollama = await FakeOllamaProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(OllamaSettings(ollama, PrivateAllowed));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Body(OllamaModel, "file:///etc/passwd"));
        var error = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("image_url", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(ollama.Received);
    }
}
