using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Images;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.ProviderAdapter.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace AiMesh.ProviderAdapter;

/// <summary>
/// One attempt at one deployment, through that deployment's resilience pipeline. In embedded
/// mode the router calls this directly; in Dapr mode through <see cref="ProviderAdapterApi"/>.
/// Every provider type takes the same path: its <see cref="IProviderWire"/> only translates.
/// </summary>
public sealed partial class ProviderAdapterService(
    ProviderCatalog catalog,
    DeploymentRegistry registry,
    ApiKeyRotation keys,
    ProviderWires wires,
    ImageInliner images,
    IHttpClientFactory httpClients,
    IOptions<ResponseLimits> responseLimits,
    TimeProvider time,
    ILogger<ProviderAdapterService> logger) : IProviderAdapterClient
{
    public const string HttpClientName = "providers";

    public Task<IReadOnlyList<DeploymentInfo>> GetDeploymentsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DeploymentInfo>>(catalog.Deployments
            .Select(d => new DeploymentInfo(d.Id, d.Provider, d.Model, d.Aliases, d.Priority, d.Enabled, registry.Find(d.Id)?.BreakerStateName ?? "closed")
            {
                ReservationPrice = ReservationPrice(d),
                Capabilities = d.Capabilities,
                Weight = d.Weight,
                DisabledKeys = keys.DisabledKeys(d.Id),
            })
            .ToList());

    private static PriceInfo ReservationPrice(DeploymentConfig deployment)
    {
        var price = deployment.Price
            ?? (deployment.Model == DeploymentConfig.AnyModel ? PriceTable.HighestFor(deployment.Provider) : PriceTable.Find(deployment.Model) ?? ModelPrice.Unknown);
        return new PriceInfo(price.Input, price.Output, price.CachedInput);
    }

    public async Task<ProviderChatResult> ChatAsync(ProviderChatRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        // Looked up once: the catalog may change meanwhile (admin API).
        if (registry.Find(request.DeploymentId) is not { Config.Enabled: true } runtime)
        {
            return Unavailable(request);
        }

        var deployment = runtime.Config;
        var wire = wires.For(deployment.Provider);
        (request, var refusedImage) = await InlineImagesAsync(wire, deployment, request, cancellationToken);
        if (refusedImage is not null)
        {
            return refusedImage;
        }

        using var inFlight = runtime.TrackInFlight();
        var keyOrder = await keys.OrderAsync(deployment, cancellationToken);
        HttpResponseMessage response;
        string? apiKey;
        for (var keyIndex = 0; ; keyIndex++)
        {
            apiKey = keyOrder[keyIndex].Key;
            var upstream = Translate(wire, deployment, request, stream: false, apiKey);
            if (upstream.Refusal is { } refusal)
            {
                return Unsupported(deployment, request, refusal);
            }

            try
            {
                response = await SendBufferedAsync(runtime, upstream.Request!, cancellationToken);
            }
            catch (Exception exception) when (FailureClassifier.IsTransient(exception) && !cancellationToken.IsCancellationRequested)
            {
                LogAttemptFailed(deployment.Id, exception.GetType().Name);
                return Failed(deployment, request, FailureClassifier.StatusFor(exception), ProviderFailureKind.Transient,
                    new ProviderError(TransportMessage(exception), "api_error", null), retryAfter: null);
            }

            // A rejected key leaves the rotation; the next key gets the request.
            if (response.StatusCode == HttpStatusCode.Unauthorized && keys.Reject(deployment, keyOrder[keyIndex]) && keyIndex + 1 < keyOrder.Count)
            {
                response.Dispose();
                continue;
            }

            break;
        }

        using (response)
        {
            // The answer is parsed from its UTF-8 bytes: no string of it, no transcoding.
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                LogProviderError(deployment.Id, status);
                var refusal = Refusal(wire, response, System.Text.Encoding.UTF8.GetString(body), apiKey);
                return Failed(deployment, request, refusal.Status, refusal.Kind, refusal.Error, FailureClassifier.RetryAfterSeconds(response, time.GetUtcNow()));
            }

            WireCompletion completion;
            try
            {
                completion = wire.ReadCompletion(WithoutByteOrderMark(body), Context(deployment, request, apiKey));
            }
            catch (Exception exception) when (exception is JsonException or InvalidOperationException)
            {
                // Not JSON, or JSON of the wrong shape for this provider.
                LogMalformedResponse(deployment.Id);
                return Failed(deployment, request, 502, ProviderFailureKind.Transient,
                    new ProviderError("The provider answered with malformed JSON.", "api_error", "bad_gateway"), retryAfter: null);
            }

            var usage = completion.Usage ?? default;
            return new ProviderChatResult
            {
                DeploymentId = deployment.Id,
                Provider = deployment.Provider,
                Model = deployment.UpstreamModel(request.Request.Model!),
                StatusCode = status,
                Response = completion.Completion,
                Usage = usage.ToUsage(),
                CostUsd = Cost(deployment, request, usage),
            };
        }
    }

    public async Task<ProviderChatResult> EmbedAsync(ProviderEmbeddingsRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var model = request.Request.Model ?? string.Empty;
        ProviderChatResult Fail(string deploymentId, string provider, int status, ProviderFailureKind kind, ProviderError error, double? retryAfter = null) => new()
        {
            DeploymentId = deploymentId,
            Provider = provider,
            Model = model,
            StatusCode = status,
            Failure = kind,
            Error = error,
            RetryAfterSeconds = retryAfter,
        };

        if (catalog.Find(request.DeploymentId) is not { Enabled: true } deployment || registry.Find(request.DeploymentId) is not { } runtime)
        {
            return Fail(request.DeploymentId, "unknown", 404, ProviderFailureKind.Transient,
                new ProviderError($"Deployment '{request.DeploymentId}' does not exist or is disabled.", "invalid_request_error", "deployment_not_found"));
        }

        if (!deployment.Capabilities.Embeddings)
        {
            return Fail(deployment.Id, deployment.Provider, 400, ProviderFailureKind.Transient,
                new ProviderError($"Deployment '{deployment.Id}' does not serve embeddings.", "invalid_request_error", "unsupported_by_provider"));
        }

        var wire = wires.For(deployment.Provider);
        using var inFlight = runtime.TrackInFlight();
        var keyOrder = await keys.OrderAsync(deployment, cancellationToken);
        HttpResponseMessage response;
        string? apiKey;
        for (var keyIndex = 0; ; keyIndex++)
        {
            apiKey = keyOrder[keyIndex].Key;
            WireRequest upstream;
            try
            {
                upstream = EmbeddingWire.BuildRequest(deployment, request.Request, apiKey);
            }
            catch (UnsupportedRequestException refusal)
            {
                LogUnsupported(deployment.Id, refusal.Param ?? "-");
                return Fail(deployment.Id, deployment.Provider, 400, ProviderFailureKind.Transient, new ProviderError(refusal.Message, "invalid_request_error", "unsupported_by_provider"));
            }

            try
            {
                response = await SendBufferedAsync(runtime, upstream, cancellationToken);
            }
            catch (Exception exception) when (FailureClassifier.IsTransient(exception) && !cancellationToken.IsCancellationRequested)
            {
                LogAttemptFailed(deployment.Id, exception.GetType().Name);
                return Fail(deployment.Id, deployment.Provider, FailureClassifier.StatusFor(exception), ProviderFailureKind.Transient, new ProviderError(TransportMessage(exception), "api_error", null));
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && keys.Reject(deployment, keyOrder[keyIndex]) && keyIndex + 1 < keyOrder.Count)
            {
                response.Dispose();
                continue;
            }

            break;
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                LogProviderError(deployment.Id, status);
                var refusal = Refusal(wire, response, body, apiKey);
                return Fail(deployment.Id, deployment.Provider, refusal.Status, refusal.Kind, refusal.Error, FailureClassifier.RetryAfterSeconds(response, time.GetUtcNow()));
            }

            (JsonElement Response, int PromptTokens) answer;
            try
            {
                answer = EmbeddingWire.ReadResponse(deployment, request.Request, body);
            }
            catch (Exception exception) when (exception is JsonException or InvalidOperationException or FormatException)
            {
                LogMalformedResponse(deployment.Id);
                return Fail(deployment.Id, deployment.Provider, 502, ProviderFailureKind.Transient, new ProviderError("The provider answered with malformed JSON.", "api_error", "bad_gateway"));
            }

            return new ProviderChatResult
            {
                DeploymentId = deployment.Id,
                Provider = deployment.Provider,
                Model = deployment.UpstreamModel(model),
                StatusCode = status,
                Response = answer.Response,
                Usage = new Usage { PromptTokens = answer.PromptTokens, TotalTokens = answer.PromptTokens },
                CostUsd = deployment.PriceFor(model).Cost(answer.PromptTokens, 0, 0),
            };
        }
    }

    public async IAsyncEnumerable<ProviderStreamEvent> StreamChatAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (registry.Find(request.DeploymentId) is not { Config.Enabled: true } runtime)
        {
            yield return ErrorEvent(Unavailable(request));
            yield break;
        }

        var deployment = runtime.Config;
        var wire = wires.For(deployment.Provider);
        var model = deployment.UpstreamModel(request.Request.Model!);
        (request, var refusedImage) = await InlineImagesAsync(wire, deployment, request, cancellationToken);
        if (refusedImage is not null)
        {
            yield return ErrorEvent(refusedImage);
            yield break;
        }

        using var inFlight = runtime.TrackInFlight();
        var keyOrder = await keys.OrderAsync(deployment, cancellationToken);
        HttpResponseMessage? response = null;
        string? apiKey = null;
        for (var keyIndex = 0; keyIndex < keyOrder.Count; keyIndex++)
        {
            apiKey = keyOrder[keyIndex].Key;
            var upstream = Translate(wire, deployment, request, stream: true, apiKey);
            if (upstream.Refusal is { } refusal)
            {
                yield return ErrorEvent(Unsupported(deployment, request, refusal));
                yield break;
            }

            // Phase 1: up to the response headers, with retries and the breaker. A failure here
            // has sent nothing to the caller yet, so the router may still fail over.
            (response, var failure) = await OpenStreamAsync(runtime, wire, upstream.Request!, request, apiKey, cancellationToken);
            if (failure is null)
            {
                break;
            }

            // A rejected key leaves the rotation; the next key gets the request.
            if (failure.StatusCode == 401 && keys.Reject(deployment, keyOrder[keyIndex]) && keyIndex + 1 < keyOrder.Count)
            {
                continue;
            }

            yield return failure;
            yield break;
        }

        using (response)
        {
            // Phase 2: relay the translated chunks. Until the first one arrives nothing has been sent,
            // so a failure (an overloaded event, a broken or malformed stream) still allows failover;
            // after it, a failure ends the stream with an error event.
            var stream = new LineLengthLimitStream(await response!.Content.ReadAsStreamAsync(cancellationToken), responseLimits.Value.MaxStreamLineBytes);
            await using var items = wire.ReadStreamAsync(stream, Context(deployment, request, apiKey), cancellationToken).GetAsyncEnumerator(cancellationToken);
            WireUsage? usage = null;
            var completionChars = 0;
            var started = false;
            while (true)
            {
                WireChunk? chunk = null;
                ProviderStreamEvent? error = null;
                try
                {
                    chunk = await items.MoveNextAsync() ? items.Current : null;
                }
                catch (ProviderStreamException exception) when (!cancellationToken.IsCancellationRequested)
                {
                    LogStreamProviderError(deployment.Id, exception.Status);
                    error = ErrorEvent(Failed(deployment, request, exception.Status, FailureClassifier.Classify((HttpStatusCode)exception.Status), exception.Error, retryAfter: null));
                }
                catch (Exception exception) when (exception is JsonException or InvalidOperationException or IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
                {
                    LogStreamBroken(deployment.Id, exception.GetType().Name);
                    error = ErrorEvent(Failed(deployment, request, 502, ProviderFailureKind.Transient,
                        new ProviderError(exception is JsonException or InvalidOperationException ? "The provider sent a malformed stream chunk." : "The provider's stream broke off.", "api_error", "stream_error"),
                        retryAfter: null));
                }

                if (error is not null)
                {
                    yield return error;
                    yield break;
                }

                if (!started)
                {
                    started = true;
                    yield return new ProviderStreamEvent { Kind = StreamEventKind.Start, DeploymentId = deployment.Id, Provider = deployment.Provider, Model = model };
                }

                if (chunk is null)
                {
                    break;
                }

                usage = chunk.Usage ?? usage;
                completionChars += chunk.ContentChars;
                yield return new ProviderStreamEvent { Kind = StreamEventKind.Chunk, Chunk = chunk.Json, UsageOnly = chunk.UsageOnly, ContentChars = chunk.ContentChars };
            }

            // A provider that sends no usage still costs money: estimate ~4 characters per token.
            var final = usage ?? new WireUsage(0, (completionChars + 3) / 4, 0);
            yield return new ProviderStreamEvent
            {
                Kind = StreamEventKind.End,
                Usage = final.ToUsage(),
                CostUsd = Cost(deployment, request, final),
                DeploymentId = deployment.Id,
                Provider = deployment.Provider,
                Model = model,
            };
        }
    }

    private async Task<(HttpResponseMessage? Response, ProviderStreamEvent? Failure)> OpenStreamAsync(
        DeploymentRuntime runtime, IProviderWire wire, WireRequest upstream, ProviderChatRequest request, string? apiKey, CancellationToken cancellationToken)
    {
        var deployment = runtime.Config;
        HttpResponseMessage response;
        try
        {
            response = await runtime.Pipeline.ExecuteAsync(async token =>
            {
                using var message = upstream.ToMessage();
                var answer = await Client().SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token);
                if (!answer.IsSuccessStatusCode)
                {
                    await BufferAsync(answer, token);
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
            var refusal = Refusal(wire, response, body, apiKey);
            return (null, ErrorEvent(Failed(deployment, request, refusal.Status, refusal.Kind, refusal.Error,
                FailureClassifier.RetryAfterSeconds(response, time.GetUtcNow()))));
        }
    }

    /// <summary>The provider request, or the reason the provider cannot express this one.</summary>
    private Translated Translate(IProviderWire wire, DeploymentConfig deployment, ProviderChatRequest request, bool stream, string? apiKey)
    {
        try
        {
            return new Translated(wire.BuildRequest(deployment, request.Request, stream, apiKey), null);
        }
        catch (UnsupportedRequestException exception)
        {
            LogUnsupported(deployment.Id, exception.Param ?? "-");
            return new Translated(null, exception);
        }
    }

    /// <summary>
    /// Fetches the image URLs the wire cannot pass on and inlines them, once per call (every key and retry reuses
    /// them). A refused or unfetchable image is the caller's fault: a permanent 400, so the router neither fails
    /// over nor counts it against the deployment; nothing was sent to the provider, so its breaker never sees it.
    /// </summary>
    private async Task<(ProviderChatRequest Request, ProviderChatResult? Refused)> InlineImagesAsync(
        IProviderWire wire, DeploymentConfig deployment, ProviderChatRequest request, CancellationToken cancellationToken)
    {
        if (wire is not IInlineImageWire inline)
        {
            return (request, null);
        }

        try
        {
            var inlined = await images.InlineAsync(request.Request, inline, cancellationToken);
            return (ReferenceEquals(inlined, request.Request) ? request : request with { Request = inlined }, null);
        }
        catch (ImageFetchException exception)
        {
            LogImageRefused(deployment.Id, exception.Code, exception.Param ?? "-");
            return (request, Failed(deployment, request, 400, ProviderFailureKind.Permanent,
                new ProviderError(exception.Message, "invalid_request_error", exception.Code) { Param = exception.Param }, retryAfter: null));
        }
    }

    /// <summary>
    /// The deployment cannot express the request (e.g. an image URL for Ollama): a 400 that nothing was
    /// sent for, transient so the router tries a deployment that can.
    /// </summary>
    private static ProviderChatResult Unsupported(DeploymentConfig deployment, ProviderChatRequest request, UnsupportedRequestException refusal) =>
        Failed(deployment, request, 400, ProviderFailureKind.Transient,
            new ProviderError(refusal.Message, "invalid_request_error", "unsupported_by_provider"), retryAfter: null);

    private WireContext Context(DeploymentConfig deployment, ProviderChatRequest request, string? apiKey) =>
        new(deployment.UpstreamModel(request.Request.Model!), time.GetUtcNow().ToUnixTimeSeconds(), apiKey);

    private static decimal Cost(DeploymentConfig deployment, ProviderChatRequest request, WireUsage usage) =>
        deployment.PriceFor(request.Request.Model!).Cost(usage.PromptTokens, usage.CachedTokens, usage.CompletionTokens);

    /// <summary>The answer for a deployment that does not exist or is disabled.</summary>
    private ProviderChatResult Unavailable(ProviderChatRequest request)
    {
        var deployment = catalog.Find(request.DeploymentId);

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

    /// <summary>What the caller is told of a provider answer that is not a success: its error, or 502 for a redirect.</summary>
    private static (int Status, ProviderFailureKind Kind, ProviderError Error) Refusal(IProviderWire wire, HttpResponseMessage response, string body, string? apiKey) =>
        FailureClassifier.IsUnexpected(response.StatusCode)
            ? (502, ProviderFailureKind.Transient, FailureClassifier.UnexpectedStatusError(response.StatusCode))
            : ((int)response.StatusCode, FailureClassifier.Classify(response.StatusCode), wire.ReadError(body, (int)response.StatusCode, apiKey));

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
        HttpRequestException { HttpRequestError: HttpRequestError.ConfigurationLimitExceeded } =>
            $"The provider's answer was larger than AiMesh accepts ({ResponseLimits.Section}:MaxBodyBytes).",
        Polly.Timeout.TimeoutRejectedException => "The provider did not answer in time.",
        Polly.CircuitBreaker.BrokenCircuitException => "The deployment's circuit breaker is open.",
        _ => "The provider could not be reached.",
    };

    /// <summary>One non-streaming call through the deployment's pipeline; the body is read inside the attempt, so the attempt timeout covers it.</summary>
    private Task<HttpResponseMessage> SendBufferedAsync(DeploymentRuntime runtime, WireRequest upstream, CancellationToken cancellationToken) =>
        runtime.Pipeline.ExecuteAsync(async token =>
        {
            using var message = upstream.ToMessage();
            var answer = await Client().SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token);
            await BufferAsync(answer, token);
            return answer;
        }, cancellationToken).AsTask();

    /// <summary>Reads the whole body, within <see cref="ResponseLimits.MaxBodyBytes"/>.</summary>
    private async Task BufferAsync(HttpResponseMessage answer, CancellationToken cancellationToken)
    {
        try
        {
            await answer.Content.LoadIntoBufferAsync(responseLimits.Value.MaxBodyBytes, cancellationToken);
        }
        catch
        {
            // Over the size limit, broken off or timed out: the connection goes, not back to the pool half read.
            answer.Dispose();
            throw;
        }
    }

    /// <summary>The JSON after a UTF-8 byte order mark, if the provider sent one (the JSON reader refuses it).</summary>
    private static ReadOnlyMemory<byte> WithoutByteOrderMark(byte[] body) =>
        body.AsSpan().StartsWith("\uFEFF"u8) ? body.AsMemory(3) : body;

    private HttpClient Client() => httpClients.CreateClient(HttpClientName);

    private sealed record Translated(WireRequest? Request, UnsupportedRequestException? Refusal);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: attempt failed ({Failure})")]
    private partial void LogAttemptFailed(string deploymentId, string failure);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: provider answered HTTP {Status}")]
    private partial void LogProviderError(string deploymentId, int status);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: provider answered with malformed JSON")]
    private partial void LogMalformedResponse(string deploymentId);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: stream broke off ({Failure})")]
    private partial void LogStreamBroken(string deploymentId, string failure);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Deployment {DeploymentId}: the provider cannot express the request ({Param}); nothing sent")]
    private partial void LogUnsupported(string deploymentId, string param);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Deployment {DeploymentId}: provider sent an error event (HTTP {Status} equivalent) in its stream")]
    private partial void LogStreamProviderError(string deploymentId, int status);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "Deployment {DeploymentId}: image URL not inlined ({Code}, {Param}); nothing sent")]
    private partial void LogImageRefused(string deploymentId, string code, string param);
}
