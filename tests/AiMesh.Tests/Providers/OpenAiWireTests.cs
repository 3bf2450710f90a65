using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.Testing;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>The OpenAI wire (openai, openai-compatible): a pass-through that still reads usage, ends and errors.</summary>
public sealed class OpenAiWireTests
{
    private readonly OpenAiWire _sut = new();

    [Fact]
    public void BuildRequest_PassesTheRequestOnWithUpstreamModelAndStreamUsage()
    {
        var deployment = Deployment(ProviderTypes.OpenAiCompatible, "http://127.0.0.1:8000/v1", "*");
        var request = Request(new JsonObject
        {
            ["model"] = "llama-3",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
            ["logit_bias"] = new JsonObject { ["50256"] = -100 },
        });

        var built = _sut.BuildRequest(deployment, request, stream: true, "key-1");

        Assert.Equal("http://127.0.0.1:8000/v1/chat/completions", built.Uri.ToString());
        Assert.Equal("Bearer key-1", built.Header("Authorization"));
        var body = Body(built);
        Assert.Equal("llama-3", body["model"]!.GetValue<string>());
        Assert.True(body["stream_options"]!["include_usage"]!.GetValue<bool>());
        Assert.Equal(-100, body["logit_bias"]!["50256"]!.GetValue<int>());
    }

    [Fact]
    public async Task ReadStream_UsageChunkAndDone_AreRead()
    {
        const string stream = """
            data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hé"},"finish_reason":null}]}

            : keep-alive

            data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

            data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":4}}}

            data: [DONE]


            """;

        var chunks = await ReadStreamAsync(_sut, stream);

        Assert.Equal(3, chunks.Count);
        Assert.Equal("Hé", StreamedText(chunks));
        Assert.Equal(2, chunks[0].ContentChars);
        Assert.True(chunks[^1].UsageOnly);
        Assert.Equal(new WireUsage(7, 2, 4), chunks[^1].Usage);
    }

    [Fact]
    public async Task ReadStream_ErrorEvent_ThrowsProviderStreamException()
    {
        const string stream = "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";

        var error = await Assert.ThrowsAsync<ProviderStreamException>(() => ReadStreamAsync(_sut, stream));

        Assert.Equal("server_error", error.Error.Type);
        Assert.Equal(500, error.Status);
    }

    [Fact]
    public async Task ReadStream_EndsWithoutFinishOrDone_ThrowsIOException()
    {
        const string stream = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";

        await Assert.ThrowsAsync<IOException>(() => ReadStreamAsync(_sut, stream));
    }

    [Fact]
    public async Task Stream_ErrorEventBeforeTheFirstChunk_FailsOver()
    {
        await using var primary = await FakeOpenAiProvider.StartAsync();
        primary.StandingFault = new Fault { StreamErrorAfterChunks = 0 };
        await using var secondary = await FakeOpenAiProvider.StartAsync();
        var settings = Settings("openai-compatible", "gpt-4o-mini", "key", ("primary", primary.BaseUrl), ("secondary", secondary.BaseUrl));
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", WeatherBody("gpt-4o-mini", stream: true));
        var (data, _) = ParseSse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secondary", Header(response, "x-aimesh-deployment"));
        Assert.Equal("[DONE]", data[^1]);
        Assert.Single(primary.Received);
    }

    [Theory]
    [InlineData("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\"}")]
    [InlineData("{\"id\":\"chatcmpl-1\",\"choices\":null}")]
    [InlineData("{\"id\":\"chatcmpl-1\",\"choices\":{\"0\":{}}}")]
    [InlineData("[1,2,3]")]
    public void ReadCompletion_WithoutAChoicesArray_IsMalformed(string body) =>
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => OpenAiWire.ReadOpenAiCompletion(System.Text.Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void ReadCompletion_WithChoices_KeepsTheBodyAndReadsUsage()
    {
        var completion = OpenAiWire.ReadOpenAiCompletion("{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}"u8.ToArray());

        Assert.Equal("c", completion.Completion.GetProperty("id").GetString());
        Assert.Equal(3, completion.Usage!.Value.PromptTokens);
    }
}
