using System.Globalization;
using System.Text;
using System.Text.Json;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using AiMesh.Router.Auth;
using AiMesh.Router.OpenAi;
using AiMesh.Router.Routing;
using AiMesh.Router.Telemetry;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// The chat completion request path (DESIGN.md): authenticate, validate, reserve quota, route
/// with failover, answer in OpenAI's format, then publish usage and settle the reservation.
/// </summary>
public sealed partial class ChatPipeline(
    TenantAuthenticator authenticator,
    IValidationClient validation,
    IQuotaClient quota,
    DeploymentDirectory directory,
    IProviderAdapterClient providers,
    IEventPublisher events,
    GatewayMetrics metrics,
    IOptionsMonitor<RouterOptions> options,
    TimeProvider time,
    ILogger<ChatPipeline> logger)
{
    /// <summary>Admins may pin a request to one deployment with this header.</summary>
    public const string PinHeader = "x-aimesh-deployment";

    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var started = time.GetTimestamp();
        var requestId = RequestIds.Resolve(context);
        var caller = await authenticator.AuthenticateAsync(context.Request, context.RequestAborted);
        if (caller is null)
        {
            await WriteErrorAsync(context, GatewayError.Unauthorized());
            return;
        }

        var settings = options.CurrentValue;
        var (request, readError) = await RequestReader.ReadAsync<ChatCompletionRequest>(context, settings.MaxRequestBodyBytes);
        if (readError is not null)
        {
            await WriteErrorAsync(context, readError);
            return;
        }

        var verdict = await validation.ValidateChatAsync(request!, context.RequestAborted);
        if (!verdict.IsValid)
        {
            var first = verdict.Issues[0];
            var message = string.Join(" ", verdict.Issues.Select(i => i.Message));
            await WriteErrorAsync(context, GatewayError.BadRequest(message, first.Param));
            return;
        }

        request = verdict.Normalised!;
        var (candidates, routeError) = await RouteAsync(context, caller, request.Model!);
        if (routeError is not null)
        {
            await WriteErrorAsync(context, routeError);
            return;
        }

        var estimatedTokens = TokenEstimator.EstimatePromptTokens(request) + TokenEstimator.EstimateOutputTokens(request, settings.DefaultEstimatedOutputTokens);
        var decision = await quota.ReserveAsync(caller.TenantId, new QuotaReservation(requestId, estimatedTokens, 0m), context.RequestAborted);
        WriteRateLimitHeaders(context, decision);
        if (!decision.Allowed)
        {
            metrics.Rejected(decision.DeniedBy ?? "rate_limit");
            await WriteErrorAsync(context, QuotaError(decision));
            return;
        }

        var outcome = new Outcome(requestId, caller.TenantId, request.Model!, started) { Streamed = request.Stream == true };
        try
        {
            if (request.Stream == true)
            {
                await StreamAsync(context, request, candidates, outcome, settings.MaxAttempts);
            }
            else
            {
                await CompleteAsync(context, request, candidates, outcome, settings.MaxAttempts);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            outcome.Status = 499;
        }
        finally
        {
            await FinishAsync(outcome, started);
        }
    }

    private async Task<(IReadOnlyList<DeploymentInfo> Candidates, GatewayError? Error)> RouteAsync(HttpContext context, Caller caller, string model)
    {
        var deployments = await directory.GetAsync(context.RequestAborted);
        var pinned = context.Request.Headers[PinHeader].ToString();
        if (pinned.Length > 0)
        {
            if (!caller.IsAdmin)
            {
                return ([], new GatewayError(403, new OpenAiError($"Only admins may use the '{PinHeader}' header.", "permission_error", PinHeader, "forbidden")));
            }

            deployments = deployments.Where(d => d.Id == pinned).ToList();
        }

        var candidates = DeploymentDirectory.Candidates(deployments, model);
        if (candidates.Count > 0)
        {
            return (candidates, null);
        }

        return deployments.Any(d => DeploymentDirectory.Serves(d, model))
            ? ([], new GatewayError(503, new OpenAiError($"Every deployment of model '{model}' is unavailable right now (circuit open).", "api_error", null, "model_unavailable"), 5))
            : ([], new GatewayError(404, new OpenAiError($"The model '{model}' does not exist or you do not have access to it.", "invalid_request_error", "model", "model_not_found")));
    }

    private async Task CompleteAsync(HttpContext context, ChatCompletionRequest request, IReadOnlyList<DeploymentInfo> candidates, Outcome outcome, int maxAttempts)
    {
        ProviderChatResult? last = null;
        foreach (var deployment in candidates.Take(maxAttempts))
        {
            var attemptStarted = time.GetTimestamp();
            last = await AttemptAsync(deployment, outcome.RequestId, request, context.RequestAborted);
            var elapsed = time.GetElapsedTime(attemptStarted);
            outcome.Attempts++;
            metrics.Attempt(last.Provider, last.DeploymentId, last.StatusCode, elapsed.TotalSeconds);
            if (last.Failure != ProviderFailureKind.Transient)
            {
                break;
            }

            outcome.Failed.Add(new FailedAttempt(deployment.Id, last.StatusCode, elapsed.TotalMilliseconds));
            LogFailover(outcome.RequestId, deployment.Id, last.StatusCode);
        }

        outcome.Deployment = last!.DeploymentId;
        outcome.Provider = last.Provider;
        outcome.Status = last.StatusCode;
        WriteRouteHeaders(context, outcome);
        if (last.Failure != ProviderFailureKind.None || last.Response is not { } body)
        {
            // The final attempt is the outcome itself, not a failover that preceded it.
            outcome.Failed.RemoveAll(f => f.DeploymentId == last.DeploymentId && last.Failure == ProviderFailureKind.Transient);
            await WriteErrorAsync(context, ProviderError(last.StatusCode, last.Error, last.RetryAfterSeconds));
            return;
        }

        outcome.Usage = last.Usage;
        outcome.CostUsd = last.CostUsd;
        context.Response.Headers["x-aimesh-cost-usd"] = FormatCost(last.CostUsd);
        // The usage is durable before the caller sees the answer: an acknowledged request is never lost.
        await PublishUsageAsync(outcome);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await using (var writer = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            body.WriteTo(writer);
        }
    }

    private async Task StreamAsync(HttpContext context, ChatCompletionRequest request, IReadOnlyList<DeploymentInfo> candidates, Outcome outcome, int maxAttempts)
    {
        var includeUsage = request.StreamOptions?.IncludeUsage == true;
        ProviderStreamEvent? lastFailure = null;
        foreach (var deployment in candidates.Take(maxAttempts))
        {
            var attemptStarted = time.GetTimestamp();
            outcome.Attempts++;
            await using var events = StreamAttempt(deployment, outcome.RequestId, request, context.RequestAborted).GetAsyncEnumerator(context.RequestAborted);
            var first = await events.MoveNextAsync() ? events.Current : null;
            if (first is null || first.Kind == StreamEventKind.Error)
            {
                lastFailure = first ?? TransportFailure(deployment);
                var elapsed = time.GetElapsedTime(attemptStarted);
                metrics.Attempt(deployment.Provider, deployment.Id, lastFailure.StatusCode, elapsed.TotalSeconds);
                if (lastFailure.Failure != ProviderFailureKind.Transient)
                {
                    break;
                }

                outcome.Failed.Add(new FailedAttempt(deployment.Id, lastFailure.StatusCode, elapsed.TotalMilliseconds));
                LogFailover(outcome.RequestId, deployment.Id, lastFailure.StatusCode);
                continue;
            }

            // The stream is open: from here on there is no failover, only an error event.
            outcome.Deployment = first.DeploymentId;
            outcome.Provider = first.Provider;
            outcome.Status = 200;
            WriteRouteHeaders(context, outcome);
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers["x-accel-buffering"] = "no";
            await context.Response.StartAsync(context.RequestAborted);
            var body = context.Response.BodyWriter;
            while (await events.MoveNextAsync())
            {
                var item = events.Current;
                switch (item.Kind)
                {
                    case StreamEventKind.Chunk when includeUsage || !item.UsageOnly:
                        await body.WriteAsync(DataPrefix, context.RequestAborted);
                        await body.WriteAsync(Encoding.UTF8.GetBytes(item.Chunk!), context.RequestAborted);
                        await body.WriteAsync(EventEnd, context.RequestAborted);
                        break;
                    case StreamEventKind.End:
                        outcome.Usage = item.Usage;
                        outcome.CostUsd = item.CostUsd;
                        await PublishUsageAsync(outcome);
                        // An SSE comment: ignored by SSE parsers, readable by people and tools.
                        await body.WriteAsync(Encoding.UTF8.GetBytes($": x-aimesh-cost-usd={FormatCost(item.CostUsd)}\n\n"), context.RequestAborted);
                        await body.WriteAsync(Done, context.RequestAborted);
                        break;
                    case StreamEventKind.Error:
                        outcome.Status = item.StatusCode;
                        var error = ProviderError(item.StatusCode, item.Error, null).Error;
                        await body.WriteAsync(DataPrefix, context.RequestAborted);
                        await body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(new OpenAiErrorBody(error)), context.RequestAborted);
                        await body.WriteAsync(EventEnd, context.RequestAborted);
                        break;
                }

                await body.FlushAsync(context.RequestAborted);
            }

            metrics.Attempt(deployment.Provider, deployment.Id, outcome.Status, time.GetElapsedTime(attemptStarted).TotalSeconds);
            return;
        }

        outcome.Deployment = lastFailure?.DeploymentId;
        outcome.Provider = lastFailure?.Provider;
        outcome.Status = lastFailure?.StatusCode ?? 502;
        // The final attempt is the outcome itself, not a failover that preceded it.
        outcome.Failed.RemoveAll(f => f.DeploymentId == outcome.Deployment && lastFailure?.Failure == ProviderFailureKind.Transient);
        WriteRouteHeaders(context, outcome);
        await WriteErrorAsync(context, ProviderError(outcome.Status, lastFailure?.Error, null));
    }

    private async Task<ProviderChatResult> AttemptAsync(DeploymentInfo deployment, string requestId, ChatCompletionRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await providers.ChatAsync(new ProviderChatRequest(deployment.Id, requestId, request), cancellationToken);
        }
        catch (HttpRequestException)
        {
            // provider-adapter itself could not be reached (Dapr mode): as transient as a provider outage.
            var failure = TransportFailure(deployment);
            return new ProviderChatResult
            {
                DeploymentId = deployment.Id,
                Provider = deployment.Provider,
                Model = request.Model!,
                StatusCode = failure.StatusCode,
                Failure = failure.Failure,
                Error = failure.Error,
            };
        }
    }

    private async IAsyncEnumerable<ProviderStreamEvent> StreamAttempt(DeploymentInfo deployment, string requestId, ChatCompletionRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var stream = providers.StreamChatAsync(new ProviderChatRequest(deployment.Id, requestId, request), cancellationToken);
        await using var enumerator = stream.GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            ProviderStreamEvent? next;
            try
            {
                next = await enumerator.MoveNextAsync() ? enumerator.Current : null;
            }
            catch (HttpRequestException)
            {
                next = TransportFailure(deployment);
            }

            if (next is null)
            {
                yield break;
            }

            yield return next;
            if (next.Kind == StreamEventKind.Error)
            {
                yield break;
            }
        }
    }

    private async Task FinishAsync(Outcome outcome, long started)
    {
        // Failures and abandoned streams are published here; successes were published before the answer.
        if (!outcome.Published && outcome.Deployment is not null)
        {
            await PublishUsageAsync(outcome);
        }

        var tokens = (outcome.Usage?.PromptTokens ?? 0) + (outcome.Usage?.CompletionTokens ?? 0);
        await quota.SettleAsync(outcome.TenantId, new QuotaSettlement(outcome.RequestId, tokens, outcome.CostUsd), CancellationToken.None);
        if (outcome.Usage is { } usage && outcome.Provider is not null)
        {
            metrics.Usage(outcome.Provider, outcome.Deployment!, usage.PromptTokens, usage.CompletionTokens, outcome.CostUsd);
        }

        var latencyMs = time.GetElapsedTime(started).TotalMilliseconds;
        LogRequest(outcome.RequestId, outcome.TenantId, outcome.Model, outcome.Deployment ?? "-", outcome.Status, outcome.Attempts,
            outcome.Usage?.PromptTokens ?? 0, outcome.Usage?.CompletionTokens ?? 0, outcome.CostUsd, latencyMs);
    }

    private async Task PublishUsageAsync(Outcome outcome)
    {
        outcome.Published = true;
        var usage = new UsageEvent
        {
            RequestId = outcome.RequestId,
            TenantId = outcome.TenantId,
            Model = outcome.Model,
            DeploymentId = outcome.Deployment,
            Provider = outcome.Provider,
            PromptTokens = outcome.Usage?.PromptTokens ?? 0,
            CompletionTokens = outcome.Usage?.CompletionTokens ?? 0,
            CostUsd = outcome.CostUsd,
            LatencyMs = time.GetElapsedTime(outcome.Started).TotalMilliseconds,
            Status = outcome.Status,
            Streamed = outcome.Streamed,
            Cache = "bypass",
            Timestamp = time.GetUtcNow(),
            FailedAttempts = outcome.Failed.ToArray(),
        };
        await events.PublishAsync(Topics.Usage, usage, CancellationToken.None);
    }

    private static ProviderStreamEvent TransportFailure(DeploymentInfo deployment) => new()
    {
        Kind = StreamEventKind.Error,
        Failure = ProviderFailureKind.Transient,
        StatusCode = 502,
        Error = new Contracts.ProviderError("The provider adapter could not be reached.", "api_error", null),
        DeploymentId = deployment.Id,
        Provider = deployment.Provider,
    };

    private static GatewayError ProviderError(int status, Contracts.ProviderError? error, double? retryAfter) =>
        new(status, new OpenAiError(error?.Message ?? "The provider failed.", error?.Type ?? "api_error", null, error?.Code), retryAfter);

    private static GatewayError QuotaError(QuotaDecision decision) => decision.DeniedBy == "budget"
        ? new GatewayError(429, new OpenAiError(decision.Message ?? "Budget exhausted.", "insufficient_quota", null, "budget_exceeded"), decision.RetryAfterSeconds)
        : new GatewayError(429, new OpenAiError(decision.Message ?? "Rate limit reached.", "rate_limit_error", null, "rate_limit_exceeded"), decision.RetryAfterSeconds);

    private static void WriteRateLimitHeaders(HttpContext context, QuotaDecision decision)
    {
        var headers = context.Response.Headers;
        headers["x-ratelimit-limit-requests"] = decision.LimitRequests.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-remaining-requests"] = decision.RemainingRequests.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-remaining-tokens"] = decision.RemainingTokens.ToString(CultureInfo.InvariantCulture);
    }

    private static void WriteRouteHeaders(HttpContext context, Outcome outcome)
    {
        var headers = context.Response.Headers;
        if (outcome.Deployment is not null)
        {
            headers["x-aimesh-deployment"] = outcome.Deployment;
            headers["x-aimesh-provider"] = outcome.Provider;
        }

        headers["x-aimesh-attempts"] = outcome.Attempts.ToString(CultureInfo.InvariantCulture);
        headers["x-aimesh-cache"] = "bypass";
    }

    private static async Task WriteErrorAsync(HttpContext context, GatewayError error) =>
        await error.ToResult(context).ExecuteAsync(context);

    public static string FormatCost(decimal cost) => cost.ToString("0.##########", CultureInfo.InvariantCulture);

    /// <summary>What happened to one request, gathered for the usage event, the settlement and the log.</summary>
    private sealed class Outcome(string requestId, string tenantId, string model, long started)
    {
        public string RequestId { get; } = requestId;
        public string TenantId { get; } = tenantId;
        public string Model { get; } = model;
        public long Started { get; } = started;
        public string? Deployment { get; set; }
        public string? Provider { get; set; }
        public int Status { get; set; }
        public int Attempts { get; set; }
        public bool Streamed { get; set; }
        public bool Published { get; set; }
        public Usage? Usage { get; set; }
        public decimal CostUsd { get; set; }
        public List<FailedAttempt> Failed { get; } = [];
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Request {RequestId}: deployment {DeploymentId} failed with {Status}; failing over")]
    private partial void LogFailover(string requestId, string deploymentId, int status);

    [LoggerMessage(EventId = 2002, EventName = "ai_request_completed", Level = LogLevel.Information,
        Message = "Request {RequestId} tenant {TenantId} model {Model} deployment {DeploymentId} status {Status} attempts {Attempts} tokens {PromptTokens}+{CompletionTokens} cost {CostUsd} USD in {LatencyMs} ms")]
    private partial void LogRequest(string requestId, string tenantId, string model, string deploymentId, int status, int attempts, int promptTokens, int completionTokens, decimal costUsd, double latencyMs);
}
