using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>Azure OpenAI: OpenAI's format on Azure's URLs with the api-key header.</summary>
public sealed class AzureOpenAiWireTests
{
    private readonly AzureOpenAiWire _sut = new();

    private static readonly JsonObject Chat = new()
    {
        ["model"] = "gpt-4o-mini",
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
    };

    [Fact]
    public void BuildRequest_DeploymentUrlWithApiVersionAndApiKeyHeader()
    {
        var deployment = Deployment(ProviderTypes.AzureOpenAi, "https://contoso.openai.azure.com", "gpt-4o-mini");

        var request = _sut.BuildRequest(deployment, Request(Chat), stream: true, "azure-key");

        Assert.Equal($"https://contoso.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version={ProviderTypes.DefaultAzureApiVersion}", request.Uri.ToString());
        Assert.Equal("azure-key", request.Header("api-key"));
        Assert.Null(request.Header("Authorization"));
        Assert.True(Body(request)["stream_options"]!["include_usage"]!.GetValue<bool>());
    }

    [Fact]
    public void BuildRequest_AzureDeploymentAndApiVersion_AreUsed()
    {
        var deployment = Deployment(ProviderTypes.AzureOpenAi, "https://contoso.openai.azure.com/openai/", "gpt-4o-mini", o =>
        {
            o.AzureDeployment = "prod-mini";
            o.ApiVersion = "2025-04-01-preview";
        });

        var request = _sut.BuildRequest(deployment, Request(Chat), stream: false, "azure-key");

        Assert.Equal("https://contoso.openai.azure.com/openai/deployments/prod-mini/chat/completions?api-version=2025-04-01-preview", request.Uri.ToString());
    }

    [Fact]
    public void BuildRequest_V1Api_PostsToV1WithTheDeploymentAsModel()
    {
        var deployment = Deployment(ProviderTypes.AzureOpenAi, "https://contoso.openai.azure.com", "gpt-4o-mini", o =>
        {
            o.AzureDeployment = "prod-mini";
            o.ApiVersion = "v1";
        });

        var request = _sut.BuildRequest(deployment, Request(Chat), stream: false, "azure-key");

        Assert.Equal("https://contoso.openai.azure.com/openai/v1/chat/completions", request.Uri.ToString());
        Assert.Equal("prod-mini", Body(request)["model"]!.GetValue<string>());
    }

    [Fact]
    public void BuildRequest_PassThroughWithAnUnsafeModelName_IsUnsupported()
    {
        var deployment = Deployment(ProviderTypes.AzureOpenAi, "https://contoso.openai.azure.com", "*");
        var request = Chat.DeepClone().AsObject();
        request["model"] = "../../admin";

        Assert.Equal("model", Assert.Throws<UnsupportedRequestException>(() => _sut.BuildRequest(deployment, Request(request), stream: false, null)).Param);
    }

    [Fact]
    public async Task ReadStream_PromptFilterChunk_IsLeftOut()
    {
        const string stream = """
            data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}

            data: {"choices":[{"delta":{"content":"Hi","role":"assistant"},"finish_reason":null,"index":0}],"created":1,"id":"c1","model":"gpt-4o-mini","object":"chat.completion.chunk"}

            data: {"choices":[{"delta":{},"finish_reason":"stop","index":0,"content_filter_results":{}}],"created":1,"id":"c1","model":"gpt-4o-mini","object":"chat.completion.chunk"}

            data: {"choices":[],"created":1,"id":"c1","model":"gpt-4o-mini","object":"chat.completion.chunk","usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}

            data: [DONE]


            """;

        var chunks = await ReadStreamAsync(_sut, stream);

        Assert.Equal(3, chunks.Count);
        Assert.Equal("Hi", StreamedText(chunks));
        Assert.True(chunks[^1].UsageOnly);
        Assert.Equal(new WireUsage(9, 1, 0), chunks[^1].Usage);
    }

    [Fact]
    public void ReadError_AzureContentFilter_KeepsItsCode()
    {
        const string body = """{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}}""";

        var error = _sut.ReadError(body, 400, null);

        Assert.Equal("content_filter", error.Code);
        Assert.Equal("invalid_request_error", error.Type);
    }
}
