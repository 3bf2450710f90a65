using System.Globalization;
using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using AiMesh.Router.Auth;
using AiMesh.Router.OpenAi;
using AiMesh.Router.Routing;
using AiMesh.Router.Telemetry;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// <c>POST /v1/embeddings</c>: the chat path's services in the same order — authenticate, check the request,
/// reserve quota, route among the deployments that serve embeddings with failover on transient failures,
/// answer in OpenAI's format with the x-aimesh-* headers, then publish usage (input tokens × input price)
/// and settle the reservation before the caller gets the answer.
/// </summary>
public sealed partial class EmbeddingsPipeline(
    TenantAuthenticator authenticator,
    IValidationClient validation,
    ContentPolicies contentPolicies,
    IQuotaClient quota,
    DeploymentDirectory directory,
    RoutePlanner planner,
    InFlightTracker inFlight,
    IProviderAdapterClient providers,
    IEventPublisher events,
    GatewayMetrics metrics,
    IOptionsMonitor<RouterOptions> options,
    TimeProvider time,
    ILogger<EmbeddingsPipeline> logger)
{
    /// <summary>Inputs per request, as OpenAI allows.</summary>
    public const int MaxInputs = 2048;

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var started = time.GetTimestamp();
        var (requestId, clientRequestId) = RequestIds.Resolve(context, time);
        var caller = await authenticator.AuthenticateAsync(context.Request, context.RequestAborted);
        if (caller is null)
        {
            await WriteAsync(context, GatewayError.Unauthorized());
            return;
        }

        var settings = options.CurrentValue;
        var (request, readError) = await RequestReader.ReadAsync<EmbeddingsRequest>(context, settings.MaxRequestBodyBytes);
        if ((readError ?? Validate(request!)) is { } invalid)
        {
            await WriteAsync(context, invalid);
            return;
        }

        // Screening is for prompts a model follows; embeddings input only gets the PII part of the policy.
        var policy = contentPolicies.For(caller);
        ContentFindings? content = null;
        if (policy.Pii != ContentPolicy.Off)
        {
            var verdict = await validation.ValidateEmbeddingsAsync(request!, policy, context.RequestAborted);
            content = verdict.Content;
            contentPolicies.Record(requestId, caller.TenantId, content, System.Diagnostics.Activity.Current);
            if (!verdict.IsValid)
            {
                var issue = verdict.Issues[0];
                await WriteAsync(context, GatewayError.BadRequest(issue.Message, issue.Param, issue.Code ?? "invalid_request"));
                return;
            }

            request = verdict.Normalised;
        }

        var model = request!.Model!;
        if (!caller.MayUse(model))
        {
            await WriteAsync(context, GatewayError.ModelNotAllowed(model));
            return;
        }

        var pinned = context.Request.Headers[ChatPipeline.PinHeader].ToString();
        if (pinned.Length > 0 && !caller.IsAdmin)
        {
            await WriteAsync(context, new GatewayError(403, new OpenAiError($"Only admins may use the '{ChatPipeline.PinHeader}' header.", "permission_error", ChatPipeline.PinHeader, "forbidden")));
            return;
        }

        var deployments = await directory.GetAsync(context.RequestAborted);
        if (pinned.Length > 0)
        {
            deployments = deployments.Where(d => d.Id == pinned).ToList();
        }

        var tokens = EstimateTokens(request.Input!.Value);
        var embedding = deployments.Where(d => d.Capabilities?.Embeddings == true).ToList();
        var plan = planner.Plan(embedding, model, new RequestNeeds(false, false, false, tokens), tokens, 0);
        if (plan.Problem != RouteProblem.None)
        {
            await WriteAsync(context, plan.Problem switch
            {
                RouteProblem.AllBreakersOpen => new GatewayError(503, new OpenAiError($"Every deployment of model '{model}' is unavailable right now (circuit open).", "api_error", null, "model_unavailable"), 5),
                RouteProblem.UnknownModel when deployments.Any(d => DeploymentDirectory.Serves(d, model)) =>
                    GatewayError.BadRequest($"No deployment of model '{model}' serves embeddings.", "model", "unsupported_capability"),
                RouteProblem.ContextTooLong => GatewayError.BadRequest($"The input needs about {tokens} tokens, more than the context window of every deployment of model '{model}'.", "input", "context_length_exceeded"),
                _ => GatewayError.ModelNotFound(model),
            });
            return;
        }

        var reservation = new QuotaReservation(requestId, tokens, plan.Deployments.Max(d => d.ReservationPrice?.Cost(tokens, 0) ?? 0m));
        var (subject, keySubject, decision, deniedFor) = await QuotaGate.ReserveAsync(quota, caller, reservation, context.RequestAborted);
        ChatPipeline.WriteRateLimitHeaders(context, decision);
        if (!decision.Allowed)
        {
            metrics.Rejected(decision.DeniedBy ?? "rate_limit");
            await WriteAsync(context, ChatPipeline.QuotaError(decision, deniedFor));
            return;
        }

        ProviderChatResult? last = null;
        var failed = new List<FailedAttempt>();
        var attempts = 0;
        var status = 499;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            deadline.CancelAfter(settings.RequestTimeout);
            foreach (var deployment in plan.Deployments.Take(settings.MaxAttempts))
            {
                var attemptStarted = time.GetTimestamp();
                using (inFlight.Track(deployment.Id))
                {
                    last = await AttemptAsync(deployment, requestId, request with { Model = plan.Model }, deadline.Token);
                }

                attempts++;
                var elapsed = time.GetElapsedTime(attemptStarted);
                metrics.Attempt(last.Provider, last.DeploymentId, last.StatusCode, elapsed.TotalSeconds);
                if (last.Failure != ProviderFailureKind.Transient)
                {
                    break;
                }

                failed.Add(new FailedAttempt(deployment.Id, last.StatusCode, elapsed.TotalMilliseconds));
                LogFailover(requestId, deployment.Id, last.StatusCode);
            }

            status = last?.StatusCode ?? 503;
            if (last is not null && last.Failure == ProviderFailureKind.Transient)
            {
                failed.RemoveAt(failed.Count - 1);
            }

            var ok = last is { Failure: ProviderFailureKind.None, Response: not null };
            var cost = ok ? last!.CostUsd : 0m;
            var usage = ok ? last!.Usage : null;
            var usageEvent = new UsageEvent
            {
                RequestId = requestId,
                ClientRequestId = clientRequestId,
                TenantId = caller.TenantId,
                KeyId = caller.KeyId,
                Model = plan.Model,
                DeploymentId = last?.DeploymentId,
                Provider = last?.Provider,
                PromptTokens = usage?.PromptTokens ?? 0,
                CompletionTokens = 0,
                CostUsd = cost,
                LatencyMs = time.GetElapsedTime(started).TotalMilliseconds,
                Status = status,
                Streamed = false,
                Cache = "bypass",
                Timestamp = time.GetUtcNow(),
                FailedAttempts = failed.ToArray(),
                Content = content,
            };
            var settlement = new QuotaSettlement(requestId, usage?.PromptTokens ?? 0, cost);
            // The usage event and the settlements are durable writes: started together, they share one commit.
            var writes = new List<Task>(3);
            using (DurableWrites.Together())
            {
                writes.Add(events.PublishAsync(Topics.Usage, usageEvent, CancellationToken.None));
                writes.Add(quota.SettleAsync(subject, settlement, CancellationToken.None));
                if (keySubject is not null)
                {
                    writes.Add(quota.SettleAsync(keySubject, settlement, CancellationToken.None));
                }
            }

            await Task.WhenAll(writes);

            var headers = context.Response.Headers;
            if (last is not null)
            {
                headers["x-aimesh-deployment"] = last.DeploymentId;
                headers["x-aimesh-provider"] = last.Provider;
            }

            headers["x-aimesh-attempts"] = attempts.ToString(CultureInfo.InvariantCulture);
            headers["x-aimesh-cache"] = "bypass";
            if (!ok)
            {
                await WriteAsync(context, new GatewayError(status, new OpenAiError(last?.Error?.Message ?? "No deployment could serve the request.", last?.Error?.Type ?? "api_error", null, last?.Error?.Code), last?.RetryAfterSeconds));
                return;
            }

            metrics.Usage(last!.Provider, last.DeploymentId, usage?.PromptTokens ?? 0, 0, cost);
            headers["x-aimesh-cost-usd"] = ChatPipeline.FormatCost(cost);
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json";
            await using var writer = new Utf8JsonWriter(context.Response.BodyWriter);
            last.Response!.Value.WriteTo(writer);
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            status = 504;
            await quota.SettleAsync(subject, new QuotaSettlement(requestId, 0, 0m), CancellationToken.None);
            await WriteAsync(context, new GatewayError(504, new OpenAiError($"The request did not finish within its deadline of {settings.RequestTimeout.TotalSeconds:0} s.", "api_error", null, "deadline_exceeded")));
        }
        finally
        {
            var latencyMs = time.GetElapsedTime(started).TotalMilliseconds;
            var deploymentId = last?.DeploymentId ?? "-";
            var promptTokens = last?.Usage?.PromptTokens ?? 0;
            if (status is >= 200 and < 400)
            {
                LogRequestSuccess(LogEvents.RequestSuccess, requestId, caller.TenantId, model, deploymentId, status, attempts, promptTokens, latencyMs);
            }
            else
            {
                LogRequestFailure(LogEvents.RequestFailure, requestId, caller.TenantId, model, deploymentId, status, attempts, promptTokens, latencyMs);
            }
        }
    }

    /// <summary>Model, input (a non-empty string, or 1–2048 non-empty strings or token id arrays), encoding_format, dimensions.</summary>
    public static GatewayError? Validate(EmbeddingsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.Model))
        {
            return GatewayError.BadRequest("'model' is required.", "model");
        }

        if (request.Input is not { } input || input.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return GatewayError.BadRequest("'input' is required.", "input");
        }

        switch (input.ValueKind)
        {
            case JsonValueKind.String when input.GetString()!.Length == 0:
                return GatewayError.BadRequest("'input' must not be empty.", "input");
            case JsonValueKind.String:
                break;
            case JsonValueKind.Array:
                var items = input.EnumerateArray().ToList();
                if (items.Count == 0)
                {
                    return GatewayError.BadRequest("'input' must not be an empty array.", "input");
                }

                if (items.Count > MaxInputs)
                {
                    return GatewayError.BadRequest($"'input' holds {items.Count} items; at most {MaxInputs} are allowed.", "input");
                }

                for (var i = 0; i < items.Count; i++)
                {
                    var valid = items[i].ValueKind switch
                    {
                        JsonValueKind.String => items[i].GetString()!.Length > 0,
                        JsonValueKind.Number => items[i].TryGetInt32(out var id) && id >= 0,
                        JsonValueKind.Array => items[i].GetArrayLength() > 0 && items[i].EnumerateArray().All(t => t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var id) && id >= 0),
                        _ => false,
                    };
                    if (!valid)
                    {
                        return GatewayError.BadRequest($"'input[{i}]' must be a non-empty string, a token id or a non-empty array of token ids.", $"input[{i}]");
                    }

                    // One kind throughout, as OpenAI takes it: strings, or token ids, or arrays of token ids.
                    if (items[i].ValueKind != items[0].ValueKind)
                    {
                        return GatewayError.BadRequest($"'input' mixes kinds: 'input[{i}]' is not like 'input[0]'; send strings, token ids, or arrays of token ids, one kind per request.", $"input[{i}]");
                    }
                }

                break;
            default:
                return GatewayError.BadRequest("'input' must be a string or an array.", "input");
        }

        if (request.EncodingFormat is not (null or "float" or "base64"))
        {
            return GatewayError.BadRequest($"'encoding_format' must be 'float' or 'base64', not '{request.EncodingFormat}'.", "encoding_format");
        }

        if (request.Dimensions is <= 0)
        {
            return GatewayError.BadRequest("'dimensions' must be a positive integer.", "dimensions");
        }

        return null;
    }

    private static int EstimateTokens(JsonElement input) => input.ValueKind switch
    {
        JsonValueKind.String => Math.Max(1, (input.GetString()!.Length + 3) / 4),
        JsonValueKind.Number => 1,
        JsonValueKind.Array => input.EnumerateArray().Sum(EstimateTokens),
        _ => 0,
    };

    private async Task<ProviderChatResult> AttemptAsync(DeploymentInfo deployment, string requestId, EmbeddingsRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await providers.EmbedAsync(new ProviderEmbeddingsRequest(deployment.Id, requestId, request), cancellationToken);
        }
        catch (HttpRequestException)
        {
            // provider-adapter itself could not be reached (Dapr mode): as transient as a provider outage.
            return new ProviderChatResult
            {
                DeploymentId = deployment.Id,
                Provider = deployment.Provider,
                Model = request.Model!,
                StatusCode = 502,
                Failure = ProviderFailureKind.Transient,
                Error = new ProviderError("The provider adapter could not be reached.", "api_error", null),
            };
        }
    }

    private static Task WriteAsync(HttpContext context, GatewayError error) => OpenAiDialect.Instance.WriteErrorAsync(context, error);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Embeddings request {RequestId}: deployment {DeploymentId} failed with {Status}; failing over")]
    private partial void LogFailover(string requestId, string deploymentId, int status);

    [LoggerMessage(EventId = 2012, EventName = LogEvents.RequestSuccess, Level = LogLevel.Information,
        Message = "{EventName}: embeddings request {RequestId} tenant {TenantId} model {Model} deployment {DeploymentId} status {Status} attempts {Attempts} tokens {PromptTokens} in {LatencyMs} ms")]
    private partial void LogRequestSuccess(string eventName, string requestId, string tenantId, string model, string deploymentId, int status, int attempts, int promptTokens, double latencyMs);

    [LoggerMessage(EventId = 2013, EventName = LogEvents.RequestFailure, Level = LogLevel.Warning,
        Message = "{EventName}: embeddings request {RequestId} tenant {TenantId} model {Model} deployment {DeploymentId} status {Status} attempts {Attempts} tokens {PromptTokens} in {LatencyMs} ms")]
    private partial void LogRequestFailure(string eventName, string requestId, string tenantId, string model, string deploymentId, int status, int attempts, int promptTokens, double latencyMs);
}
