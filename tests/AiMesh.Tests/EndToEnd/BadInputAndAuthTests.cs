using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AiMesh.Testing;

namespace AiMesh.Tests.EndToEnd;

/// <summary>Bad input and bad keys get a clear 4xx in the caller's shape, and never reach a provider.</summary>
public sealed class BadInputAndAuthTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key-0123456789")]
    public async Task Chat_WithoutValidKey_Returns401InOpenAiShape(string? key)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient(key);

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_api_key", error?["error"]?["code"]?.GetValue<string>());
        Assert.Equal("authentication_error", error?["error"]?["type"]?.GetValue<string>());
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task Admin_WithoutMasterKey_Returns401ProblemDetails()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient(key: null);

        using var response = await client.GetAsync("/admin/usage");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("GET", "/v1/chat/completions", 405, "method_not_allowed")]
    [InlineData("POST", "/v1/models", 405, "method_not_allowed")]
    [InlineData("DELETE", "/v1/embeddings", 405, "method_not_allowed")]
    [InlineData("POST", "/v1/completions", 404, "unknown_url")]
    [InlineData("GET", "/v1", 404, "unknown_url")]
    public async Task V1_UnknownEndpointOrMethod_AnswersInOpenAiShape(string method, string path, int status, string code)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, error?["error"]?["code"]?.GetValue<string>());
        Assert.Equal("invalid_request_error", error?["error"]?["type"]?.GetValue<string>());
        Assert.Contains(path, error?["error"]?["message"]?.GetValue<string>(), StringComparison.Ordinal);
        if (status == 405)
        {
            Assert.NotEmpty(response.Content.Headers.Allow);
        }
    }

    [Fact]
    public async Task Messages_WrongMethod_AnswersInAnthropicShape()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var wrongMethod = await client.GetAsync("/v1/messages");
        using var unknown = await client.PostAsync("/v1/messages/batches", new StringContent("{}", Encoding.UTF8, "application/json"));
        var methodError = await wrongMethod.Content.ReadFromJsonAsync<JsonNode>();
        var unknownError = await unknown.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Equal("error", methodError?["type"]?.GetValue<string>());
        Assert.Equal("invalid_request_error", methodError?["error"]?["type"]?.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("not_found_error", unknownError?["error"]?["type"]?.GetValue<string>());
    }

    [Fact]
    public async Task Admin_UnknownEndpoint_StaysProblemDetails()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.GetAsync("/admin/nothing-here");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    public static TheoryData<string, string, string?> InvalidBodies => new()
    {
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [", "invalid_json", "messages[0]" },
        { "not json at all", "invalid_json", null },
        { "null", "invalid_json", null },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": \"hello\"}", "invalid_json", "messages" },
        { "{\"model\": \"gpt-4o-mini\", \"temperature\": \"hot\", \"messages\": []}", "invalid_json", "temperature" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": []}", "invalid_request", "messages" },
        { "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "model" },
        { "{\"model\": \"gpt-4o-mini\", \"temperature\": 3, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "temperature" },
        { "{\"model\": \"gpt-4o-mini\", \"top_p\": 1.5, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "top_p" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", "invalid_request", "messages[0].role" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"hologram\"}]}]}", "invalid_request", "messages[0].content" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"tool\", \"content\": \"42\"}]}", "invalid_request", "messages[0].tool_call_id" },
        { "{\"model\": \"gpt-4o-mini\", \"max_tokens\": 99999999999, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_json", "max_tokens" },
        { "{\"model\": \"gpt-4o-mini\", \"stop\": [1, 2], \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "stop" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [null]}", "invalid_request", "messages" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": []}]}", "invalid_request", "messages[0].content" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": null}]}", "invalid_request", "messages[1].content" },
        { "{\"model\": \"gpt-4o-mini\", \"logit_bias\": {\"abc\": 500}, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "logit_bias" },
        { "{\"model\": \"gpt-4o-mini\", \"top_logprobs\": 5, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "top_logprobs" },
        { "{\"model\": \"gpt-4o-mini\", \"response_format\": {\"type\": \"json_schema\"}, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "response_format" },
        { "{\"model\": \"gpt-4o-mini\", \"tool_choice\": \"required\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "invalid_request", "tool_choice" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"tool\", \"tool_call_id\": \"call_9\", \"content\": \"42\"}]}", "invalid_request", "messages[1].tool_call_id" },
        { "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,!!!\"}}]}]}", "invalid_request", "messages[0].content" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Chat_InvalidBody_Returns400ThatSaysWhere(string body, string code, string? param)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        var error = await response.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, error?["error"]?["code"]?.GetValue<string>());
        Assert.Equal(param, error?["error"]?["param"]?.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(error?["error"]?["message"]?.GetValue<string>()));
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task Chat_InvalidUtf8_Returns400()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        var bytes = Encoding.UTF8.GetBytes("{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"X\"}]}");
        bytes[Array.IndexOf(bytes, (byte)'X')] = 0xFF;
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await client.PostAsync("/v1/chat/completions", content);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task Chat_WrongContentType_Returns415()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsync("/v1/chat/completions", new StringContent("model=gpt", Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("unsupported_media_type", (await response.Content.ReadFromJsonAsync<JsonNode>())?["error"]?["code"]?.GetValue<string>());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Chat_BodyOverTheLimit_Returns413(bool chunked)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Router:MaxRequestBodyBytes"] = "4096";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        var body = Gateway.ChatBody(content: new string('a', 10_000)).ToJsonString();
        HttpContent content = chunked
            ? new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body)))
            : new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (chunked)
        {
            content.Headers.ContentLength = null;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
        request.Headers.TransferEncodingChunked = chunked;
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Empty(fake.Received);
    }

    private static ByteArrayContent Compressed(string json, string encoding)
    {
        using var output = new MemoryStream();
        using (Stream compressor = encoding switch
        {
            "gzip" => new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true),
            "deflate" => new System.IO.Compression.ZLibStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true),
            _ => new System.IO.Compression.BrotliStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true),
        })
        {
            compressor.Write(Encoding.UTF8.GetBytes(json));
        }

        var content = new ByteArrayContent(output.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        content.Headers.ContentEncoding.Add(encoding);
        return content;
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public async Task Chat_CompressedBody_IsReadUncompressed(string encoding)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsync("/v1/chat/completions", Compressed(Gateway.ChatBody(content: "compressed hello").ToJsonString(), encoding));

        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        Assert.Contains("compressed hello", Assert.Single(fake.Received).Body!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_CompressedBodyOverTheLimitUncompressed_Returns413()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Router:MaxRequestBodyBytes"] = "4096";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        // 200 KB of one letter compresses to a few hundred bytes: under the limit on the wire, far over it inflated.
        using var content = Compressed(Gateway.ChatBody(content: new string('a', 200_000)).ToJsonString(), "gzip");
        Assert.True(content.Headers.ContentLength < 4096);

        using var response = await client.PostAsync("/v1/chat/completions", content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("uncompressed", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(fake.Received);
    }

    [Theory]
    [InlineData("gzip", HttpStatusCode.BadRequest, "invalid_encoding")]
    [InlineData("deflate", HttpStatusCode.BadRequest, "invalid_encoding")]
    [InlineData("br", HttpStatusCode.BadRequest, "invalid_encoding")]
    [InlineData("zstd", HttpStatusCode.UnsupportedMediaType, "unsupported_media_type")]
    public async Task Chat_BodyNotInItsContentEncoding_Returns4xx(string encoding, HttpStatusCode status, string code)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var content = new StringContent(Gateway.ChatBody().ToJsonString(), Encoding.UTF8, "application/json");
        content.Headers.ContentEncoding.Add(encoding);

        using var response = await client.PostAsync("/v1/chat/completions", content);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, (await response.Content.ReadFromJsonAsync<JsonNode>())?["error"]?["code"]?.GetValue<string>());
        Assert.Empty(fake.Received);
    }

    [Theory]
    [InlineData("/admin/tenants/no-such-tenant/quota", "Tenant 'no-such-tenant' does not exist.")]
    [InlineData("/admin/keys/no-such-key/quota", "Key 'no-such-key' does not exist.")]
    [InlineData("/admin/deployments/no-such-deployment/quota", "Deployment 'no-such-deployment' does not exist.")]
    public async Task Admin_QuotaOfUnknownSubject_Returns404(string path, string detail)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.GetAsync(path);
        using var master = await client.GetAsync("/admin/tenants/master/quota");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(detail, (await response.Content.ReadFromJsonAsync<JsonNode>())?["detail"]?.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, master.StatusCode);
    }

    [Fact]
    public async Task ProviderError_EchoingTheKey_NeverShowsItToCallersOrLogs()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        fake.StandingFault = new Fault { Status = 401, ErrorMessage = $"Incorrect API key provided: {Gateway.ProviderKey}. You can find your API key at https://platform.openai.com." };
        var logs = new CapturingLoggerProvider();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake), logs: logs);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var body = await response.Content.ReadAsStringAsync();
        using var stream = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        var streamBody = await stream.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Incorrect API key provided", body, StringComparison.Ordinal);
        Assert.DoesNotContain(Gateway.ProviderKey, body, StringComparison.Ordinal);
        Assert.DoesNotContain(Gateway.ProviderKey, streamBody, StringComparison.Ordinal);
        Assert.NotEmpty(logs.Lines);
        Assert.DoesNotContain(Gateway.ProviderKey, logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(EmbeddedGateway.MasterKey, logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PinHeader_FromAdmin_RoutesToThatDeployment()
    {
        await using var first = await FakeOpenAiProvider.StartAsync();
        await using var second = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["AiMesh:Deployments:0:Id"] = "a",
            ["AiMesh:Deployments:0:Provider"] = "openai-compatible",
            ["AiMesh:Deployments:0:BaseUrl"] = first.BaseUrl,
            ["AiMesh:Deployments:0:Model"] = "gpt-4o-mini",
            ["AiMesh:Deployments:1:Id"] = "b",
            ["AiMesh:Deployments:1:Provider"] = "openai-compatible",
            ["AiMesh:Deployments:1:BaseUrl"] = second.BaseUrl,
            ["AiMesh:Deployments:1:Model"] = "gpt-4o-mini",
            ["AiMesh:Deployments:1:Priority"] = "5",
        });
        using var client = gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
        request.Headers.Add("x-aimesh-deployment", "b");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("b", response.Headers.GetValues("x-aimesh-deployment").Single());
        Assert.Empty(first.Received);
    }
}
