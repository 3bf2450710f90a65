using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// Azure OpenAI: OpenAI's chat completions format on Azure's URLs —
/// <c>{BaseUrl}/openai/deployments/{AzureDeployment}/chat/completions?api-version={ApiVersion}</c>, or with
/// <c>ApiVersion: v1</c> the v1 API <c>{BaseUrl}/openai/v1/chat/completions</c> with the Azure deployment as the
/// model — authenticated by the <c>api-key</c> header. Answers and errors are OpenAI's; the stream's
/// prompt_filter_results chunk (no choices, no usage) is left out.
/// </summary>
public sealed class AzureOpenAiWire : IProviderWire
{
    public WireRequest BuildRequest(DeploymentConfig deployment, ChatCompletionRequest request, bool stream, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(request);
        var azureDeployment = deployment.UpstreamDeployment(request.Model!);
        if (!ProviderCatalogValidator.IsAzureDeploymentName(azureDeployment))
        {
            throw new UnsupportedRequestException($"'{azureDeployment}' is not a valid Azure OpenAI deployment name.", "model");
        }

        var v1 = deployment.ApiVersion == "v1";
        var relative = v1
            ? "v1/chat/completions"
            : $"deployments/{Uri.EscapeDataString(azureDeployment)}/chat/completions?api-version={Uri.EscapeDataString(deployment.ApiVersion)}";
        var body = OpenAiWire.Serialize(OpenAiWire.Upstream(request, v1 ? azureDeployment : deployment.UpstreamModel(request.Model!), stream));
        KeyValuePair<string, string>[] headers = apiKey is null ? [] : [new("api-key", apiKey)];
        return new WireRequest(Endpoint(deployment.BaseUrl, relative), body, headers, stream ? "text/event-stream" : "application/json");
    }

    public WireCompletion ReadCompletion(ReadOnlyMemory<byte> body, WireContext context) => OpenAiWire.ReadOpenAiCompletion(body);

    public IAsyncEnumerable<WireChunk> ReadStreamAsync(Stream body, WireContext context, CancellationToken cancellationToken) =>
        OpenAiWire.ReadChunksAsync(body, context, dropChoiceless: true, cancellationToken);

    public ProviderError ReadError(string body, int status, string? apiKey) => OpenAiWire.ReadError(body, status, apiKey);

    /// <summary>The resource endpoint may be given with or without its <c>/openai</c> path.</summary>
    private static Uri Endpoint(Uri baseUrl, string relative) =>
        new(baseUrl, baseUrl.AbsolutePath.EndsWith("/openai/", StringComparison.OrdinalIgnoreCase) ? relative : "openai/" + relative);
}
