using System.Diagnostics;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;

namespace AiMesh.ProviderAdapter.Resilience;

/// <summary>
/// Probes and breaker resets. A probe asks the provider for its model list with the
/// deployment's credentials: it costs nothing and shows both reachability and a working key.
/// It bypasses the resilience pipeline, so probing never trips or resets a breaker by itself.
/// </summary>
public sealed class DeploymentOperations(DeploymentRegistry registry, ApiKeyProvider keys, IHttpClientFactory httpClients, TimeProvider time) : IDeploymentOperations
{
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    public async Task<ProbeResult> ProbeAsync(string deploymentId, CancellationToken cancellationToken)
    {
        var runtime = registry.Find(deploymentId) ?? throw new ArgumentException($"No deployment '{deploymentId}'.", nameof(deploymentId));
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            using var request = ProbeRequest(runtime.Config, await keys.GetAsync(runtime.Config.ApiKeySecret, cancellationToken));
            using var response = await httpClients.CreateClient(ProviderAdapterService.HttpClientName).SendAsync(request, timeout.Token);
            var status = (int)response.StatusCode;
            return new ProbeResult(time.GetUtcNow(), Succeeded(status), status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new ProbeResult(time.GetUtcNow(), false, 0, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public async Task<bool> ResetBreakerAsync(string deploymentId, CancellationToken cancellationToken)
    {
        if (registry.Find(deploymentId) is not { } runtime)
        {
            return false;
        }

        await runtime.BreakerControl.CloseAsync(cancellationToken);
        return true;
    }

    /// <summary>Up and accepting the key: any answer but a server error or an authentication refusal (404: no model list, yet reachable).</summary>
    public static bool Succeeded(int status) => status < 500 && status is not (401 or 403 or 407 or 408 or 429);

    public static HttpRequestMessage ProbeRequest(DeploymentConfig deployment, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var (path, header) = deployment.Provider switch
        {
            ProviderTypes.AzureOpenAi => ($"openai/models?api-version={deployment.ApiVersion}", "api-key"),
            ProviderTypes.Anthropic => ("v1/models", "x-api-key"),
            ProviderTypes.Gemini => ("v1beta/models", "x-goog-api-key"),
            ProviderTypes.Ollama => ("api/tags", null),
            _ => ("models", "Authorization"),
        };
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(deployment.BaseUrl, path));
        if (apiKey is not null && header is not null)
        {
            request.Headers.TryAddWithoutValidation(header, header == "Authorization" ? $"Bearer {apiKey}" : apiKey);
        }

        if (deployment.Provider == ProviderTypes.Anthropic)
        {
            request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        }

        return request;
    }
}
