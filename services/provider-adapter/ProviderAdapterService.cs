using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.ProviderAdapter.Resilience;
using Polly;

namespace AiMesh.ProviderAdapter;

/// <summary>
/// One attempt at one deployment, through that deployment's resilience pipeline. In embedded
/// mode the router calls this directly; in Dapr mode through <see cref="ProviderAdapterApi"/>.
/// </summary>
public sealed partial class ProviderAdapterService(
    ProviderCatalog catalog,
    DeploymentRegistry registry,
    ApiKeyProvider keys,
    IHttpClientFactory httpClients,
    TimeProvider time,
    ILogger<ProviderAdapterService> logger) : IProviderAdapterClient
{
    public const string HttpClientName = "providers";

    public Task<IReadOnlyList<DeploymentInfo>> GetDeploymentsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DeploymentInfo>>(catalog.Deployments
            .Select(d => new DeploymentInfo(d.Id, d.Provider, d.Model, d.Aliases, d.Priority, d.Enabled, registry.Find(d.Id)!.BreakerStateName)
            {
                ReservationPrice = ReservationPrice(d),
            })
            .ToList());

    private static PriceInfo ReservationPrice(DeploymentConfig deployment)
    {
        var price = deployment.Price
            ?? (deployment.Model == DeploymentConfig.AnyModel ? PriceTable.Highest : PriceTable.Find(deployment.Model) ?? ModelPrice.Unknown);
        return new PriceInfo(price.Input, price.Output, price.CachedInput);
    }

    public async Task<ProviderChatResult> ChatAsync(ProviderChatRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Resolve(request) is { } missing)
        {
            return missing;
        }

        var runtime = registry.Find(request.DeploymentId)!;
        var deployment = runtime.Config;
        var apiKey = await keys.GetAsync(deployment.ApiKeySecret, cancellationToken);
        using var inFlight = runtime.TrackInFlight();
        HttpResponseMessage response;
        try
        {
            response = await runtime.Pipeline.ExecuteAsync(async token =>
            {
                using var message = OpenAiWire.BuildChatRequest(deployment, request.Request, stream: false, apiKey);
                var answer = await Client().SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token);
                // Read the whole body inside the attempt, so the attempt timeout covers it.
                await answer.Content.LoadIntoBufferAsync(token);
                return answer;
            }, cancellationToken);
        }
        catch (Exception exception) when (FailureClassifier.IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            LogAttemptFailed(deployment.Id, exception.GetType().Name);
            return Failed(deployment, request, FailureClassifier.StatusFor(exception), ProviderFailureKind.Transient,
                new ProviderError(TransportMessage(exception), "api_error", null), retryAfter: null);
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                LogProviderError(deployment.Id, status);
                return Failed(deployment, request, status, FailureClassifier.Classify(response.StatusCode),
                    OpenAiWire.ReadError(body, status, apiKey), FailureClassifier.RetryAfterSeconds(response, time.GetUtcNow()));
            }

            JsonElement completion;
            try
            {
                completion = JsonSerializer.Deserialize<JsonElement>(body);
            }
            catch (JsonException)
            {
                LogMalformedResponse(deployment.Id);
                return Failed(deployment, request, 502, ProviderFailureKind.Transient,
                    new ProviderError("The provider answered with malformed JSON.", "api_error", "bad_gateway"), retryAfter: null);
            }

            var (usage, cached) = OpenAiWire.ReadUsage(completion) ?? (new Usage(), 0);
            return new ProviderChatResult
            {
                DeploymentId = deployment.Id,
                Provider = deployment.Provider,
                Model = deployment.UpstreamModel(request.Request.Model!),
                StatusCode = status,
                Response = completion,
                Usage = usage,
                CostUsd = deployment.PriceFor(request.Request.Model!).Cost(usage.PromptTokens, cached, usage.CompletionTokens),
            };
        }
    }

    public async IAsyncEnumerable<ProviderStreamEvent> StreamChatAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Resolve(request) is { } missing)
        {
            yield return ErrorEvent(missing);
            yield break;
        }

        var runtime = registry.Find(request.DeploymentId)!;
        var deployment = runtime.Config;
        var model = deployment.UpstreamModel(request.Request.Model!);
        var apiKey = await keys.GetAsync(deployment.ApiKeySecret, cancellationToken);
        using var inFlight = runtime.TrackInFlight();

        // Phase 1: up to the response headers, with retries and the breaker. A failure here
        // has sent nothing to the caller yet, so the router may still fail over.
        var (response, failure) = await OpenStreamAsync(runtime, request, apiKey, cancellationToken);
        if (failure is not null)
        {
            yield return failure;
            yield break;
        }

        using (response)
        {
            yield return new ProviderStreamEvent { Kind = StreamEventKind.Start, DeploymentId = deployment.Id, Provider = deployment.Provider, Model = model };

            // Phase 2: relay the chunks. A failure now ends the stream with an error event.
            var stream = await response!.Content.ReadAsStreamAsync(cancellationToken);
            await using var items = SseParser.Create(stream).EnumerateAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            (Usage Usage, int Cached)? usage = null;
            var completionChars = 0;
            var finished = false;
            while (true)
            {
                ProviderStreamEvent? next = null;
                var done = false;
                try
                {
                    if (!await items.MoveNextAsync())
                    {
                        // The body ended without [DONE]: complete only if a choice said it had finished.
                        done = true;
                        if (!finished)
                        {
                            throw new IOException("The stream ended before the provider finished its answer.");
                        }
                    }
                    else if (items.Current.Data == "[DONE]")
                    {
                        done = true;
                    }
                    else
                    {
                        var data = items.Current.Data;
                        using var chunk = JsonDocument.Parse(data);
                        var chunkUsage = OpenAiWire.ReadUsage(chunk.RootElement);
                        usage = chunkUsage ?? usage;
                        completionChars += DeltaLength(chunk.RootElement);
                        finished |= HasFinishReason(chunk.RootElement);
                        next = new ProviderStreamEvent { Kind = StreamEventKind.Chunk, Chunk = data, UsageOnly = chunkUsage is not null && !HasChoices(chunk.RootElement) };
                    }
                }
                catch (Exception exception) when (exception is JsonException or IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
                {
                    LogStreamBroken(deployment.Id, exception.GetType().Name);
                    next = new ProviderStreamEvent
                    {
                        Kind = StreamEventKind.Error,
                        Failure = ProviderFailureKind.Transient,
                        StatusCode = 502,
                        Error = new ProviderError(exception is JsonException ? "The provider sent a malformed stream chunk." : "The provider's stream broke off.", "api_error", "stream_error"),
                        DeploymentId = deployment.Id,
                    };
                    done = true;
                }

                if (next is not null)
                {
                    yield return next;
                    if (next.Kind == StreamEventKind.Error)
                    {
                        yield break;
                    }
                }

                if (done)
                {
                    break;
                }
            }

            // A provider that sends no usage still costs money: estimate ~4 characters per token.
            var final = usage ?? (new Usage { CompletionTokens = (completionChars + 3) / 4, TotalTokens = (completionChars + 3) / 4 }, 0);
            yield return new ProviderStreamEvent
            {
                Kind = StreamEventKind.End,
                Usage = final.Usage,
                CostUsd = deployment.PriceFor(request.Request.Model!).Cost(final.Usage.PromptTokens, final.Cached, final.Usage.CompletionTokens),
                DeploymentId = deployment.Id,
                Provider = deployment.Provider,
                Model = model,
            };
        }
    }

    private async Task<(HttpResponseMessage? Response, ProviderStreamEvent? Failure)> OpenStreamAsync(
        DeploymentRuntime runtime, ProviderChatRequest request, string? apiKey, CancellationToken cancellationToken)
    {
        var deployment = runtime.Config;
        HttpResponseMessage response;
        try
        {
            response = await runtime.Pipeline.ExecuteAsync(async token =>
            {
                using var message = OpenAiWire.BuildChatRequest(deployment, request.Request, stream: true, apiKey);
                var answer = await Client().SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token);
                if (!answer.IsSuccessStatusCode)
                {
                    await answer.Content.LoadIntoBufferAsync(token);
                }

                return answer;
            }, cancellationToken);
        }
        catch (Exception exception) when (FailureClassifier.IsTransient(exception) && !cancellationToken.IsCancellationRequested)
        {
            LogAttemptFailed(deployment.Id, exception.GetType().Name);
            return (null, ErrorEvent(Failed(deployment, request, FailureClassifier.StatusFor(exception), ProviderFailureKind.Transient,
                new ProviderError(TransportMessage(exception), "api_error", null), retryAfter: null)));
        }

        if (response.IsSuccessStatusCode)
        {
            return (response, null);
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            LogProviderError(deployment.Id, status);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return (null, ErrorEvent(Failed(deployment, request, status, FailureClassifier.Classify(response.StatusCode),
                OpenAiWire.ReadError(body, status, apiKey), FailureClassifier.RetryAfterSeconds(response, time.GetUtcNow()))));
        }
    }

    private ProviderChatResult? Resolve(ProviderChatRequest request)
    {
        var deployment = catalog.Find(request.DeploymentId);
        if (deployment is { Enabled: true })
        {
            return null;
        }

        return new ProviderChatResult
        {
            DeploymentId = request.DeploymentId,
            Provider = deployment?.Provider ?? "unknown",
            Model = request.Request.Model ?? string.Empty,
            StatusCode = 404,
            Failure = ProviderFailureKind.Transient,
            Error = new ProviderError($"Deployment '{request.DeploymentId}' does not exist or is disabled.", "invalid_request_error", "deployment_not_found"),
        };
    }

    private static ProviderChatResult Failed(DeploymentConfig deployment, ProviderChatRequest request, int status, ProviderFailureKind kind, ProviderError error, double? retryAfter) => new()
    {
        DeploymentId = deployment.Id,
        Provider = deployment.Provider,
        Model = deployment.UpstreamModel(request.Request.Model!),
        StatusCode = status,
        Failure = kind,
        Error = error,
        RetryAfterSeconds = retryAfter,
    };

    private static ProviderStreamEvent ErrorEvent(ProviderChatResult failed) => new()
    {
        Kind = StreamEventKind.Error,
        Failure = failed.Failure,
        StatusCode = failed.StatusCode,
        Error = failed.Error,
        DeploymentId = failed.DeploymentId,
        Provider = failed.Provider,
        Model = failed.Model,
    };

    private static string TransportMessage(Exception exception) => exception switch
    {
        Polly.Timeout.TimeoutRejectedException => "The provider did not answer in time.",
        Polly.CircuitBreaker.BrokenCircuitException => "The deployment's circuit breaker is open.",
        _ => "The provider could not be reached.",
    };

    private static bool HasFinishReason(JsonElement chunk) =>
        chunk.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array
        && choices.EnumerateArray().Any(c => c.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String);

    private static bool HasChoices(JsonElement chunk) =>
        chunk.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0;

    private static int DeltaLength(JsonElement chunk)
    {
        var length = 0;
        if (chunk.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in choices.EnumerateArray())
            {
                if (choice.TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                {
                    length += content.GetString()!.Length;
                }
            }
        }

        return length;
    }

    private HttpClient Client() => httpClients.CreateClient(HttpClientName);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: attempt failed ({Failure})")]
    private partial void LogAttemptFailed(string deploymentId, string failure);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: provider answered HTTP {Status}")]
    private partial void LogProviderError(string deploymentId, int status);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: provider answered with malformed JSON")]
    private partial void LogMalformedResponse(string deploymentId);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: stream broke off ({Failure})")]
    private partial void LogStreamBroken(string deploymentId, string failure);
}
