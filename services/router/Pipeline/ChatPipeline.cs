using System.Globalization;
using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Contracts;
using AiMesh.Router.Auth;
using AiMesh.Router.Caching;
using AiMesh.Router.OpenAi;
using AiMesh.Router.Routing;
using AiMesh.Router.Telemetry;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// The chat completion request path (DESIGN.md): authenticate, validate, reserve quota, answer
/// from cache or route with failover, answer in OpenAI's format, then publish usage and settle
/// the reservations. Usage is published and reservations settled before the caller gets the
/// end of the answer, so an acknowledged request is never missing from the ledger or a budget.
/// </summary>
public sealed partial class ChatPipeline(
    TenantAuthenticator authenticator,
    IValidationClient validation,
    IQuotaClient quota,
    DeploymentDirectory directory,
    RoutePlanner planner,
    InFlightTracker inFlight,
    IProviderAdapterClient providers,
    IEventPublisher events,
    ResponseCache cache,
    ContentPolicies contentPolicies,
    GatewayMetrics metrics,
    IOptionsMonitor<RouterOptions> options,
    IOptionsMonitor<DeploymentBudgets> budgets,
    TimeProvider time,
    ILogger<ChatPipeline> logger)
{
    /// <summary>Admins may pin a request to one deployment with this header.</summary>
    public const string PinHeader = "x-aimesh-deployment";

    /// <summary>Admins may choose the routing strategy of one request with this header.</summary>
    public const string StrategyHeader = "x-aimesh-strategy";

    /// <summary>Serves one request of the OpenAI chat completions surface.</summary>
    public Task HandleAsync(HttpContext context) => HandleAsync(context, OpenAiDialect.Instance);

    /// <summary>Serves one chat request of any surface: <paramref name="dialect"/> reads it and writes the answer.</summary>
    public async Task HandleAsync(HttpContext context, ISurfaceDialect dialect)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(dialect);
        var started = time.GetTimestamp();
        var (requestId, clientRequestId) = RequestIds.Resolve(context, time);
        var caller = await authenticator.AuthenticateAsync(context.Request, context.RequestAborted);
        if (caller is null)
        {
            await dialect.WriteErrorAsync(context, GatewayError.Unauthorized());
            return;
        }

        var settings = options.CurrentValue;
        var (request, readError) = await dialect.ReadRequestAsync(context, settings.MaxRequestBodyBytes);
        if (readError is not null)
        {
            await dialect.WriteErrorAsync(context, readError);
            return;
        }

        ValidationVerdict verdict;
        var policy = contentPolicies.For(caller);
        using (var validateSpan = GatewayTracing.Start("validate"))
        {
            verdict = await validation.ValidateChatAsync(request!, policy, context.RequestAborted);
            contentPolicies.Record(requestId, caller.TenantId, verdict.Content, validateSpan);
        }

        if (!verdict.IsValid)
        {
            await dialect.WriteErrorAsync(context, GatewayError.Invalid(verdict));
            return;
        }

        request = verdict.Normalised!;
        contentPolicies.LogPrompt(policy, requestId, request);
        using var activity = GatewayTracing.StartChat(request.Model!, requestId, clientRequestId, caller.TenantId);
        using var logScope = logger.BeginScope(new Dictionary<string, object?> { ["RequestId"] = requestId, ["ClientRequestId"] = clientRequestId, ["TenantId"] = caller.TenantId, ["Model"] = request.Model });
        if (!caller.MayUse(request.Model!))
        {
            await dialect.WriteErrorAsync(context, GatewayError.ModelNotAllowed(request.Model!));
            return;
        }

        var promptTokens = TokenEstimator.EstimatePromptTokens(request);
        var outputTokens = TokenEstimator.EstimateOutputTokens(request, settings.DefaultEstimatedOutputTokens);
        var (plan, routeError) = await RouteAsync(context, caller, request, promptTokens, outputTokens);
        if (routeError is not null)
        {
            await dialect.WriteErrorAsync(context, routeError);
            return;
        }

        // A context fallback routes to a larger-context alias: the request now names it.
        request = request with { Model = plan!.Model };
        var candidates = plan.Deployments;
        var outcome = new Outcome(requestId, caller, request.Model!, started)
        {
            ClientRequestId = clientRequestId, Streamed = request.Stream == true, EstimatedPromptTokens = promptTokens, EstimatedOutputTokens = outputTokens, Policy = policy, Content = verdict.Content,
        };
        var reservation = new QuotaReservation(requestId, promptTokens + outputTokens, EstimateCost(candidates, promptTokens, outputTokens));
        using var reserveSpan = GatewayTracing.Start("quota.reserve");
        // The gate reserves with the same subjects as the outcome's, which settles them.
        var (_, _, decision, deniedFor) = await QuotaGate.ReserveAsync(quota, caller, reservation, context.RequestAborted);

        reserveSpan?.Dispose();
        WriteRateLimitHeaders(context, decision);
        if (!decision.Allowed)
        {
            metrics.Rejected(decision.DeniedBy ?? "rate_limit");
            activity?.SetTag("aimesh.denied_by", decision.DeniedBy);
            await dialect.WriteErrorAsync(context, QuotaError(decision, deniedFor));
            return;
        }

        // The overall deadline covers every attempt and the whole stream.
        var callerAborted = context.RequestAborted;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(callerAborted);
        deadline.CancelAfter(settings.RequestTimeout);
        context.RequestAborted = deadline.Token;
        try
        {
            var cacheable = cache.IsCacheable(caller.TenantId, request);
            outcome.Cache = cacheable && !NoCache(context) ? "miss" : "bypass";
            var cacheKey = cacheable ? await cache.KeyAsync(caller.TenantId, request, context.RequestAborted) : null;
            CachedCompletion? hit = null;
            if (outcome.Cache == "miss")
            {
                using var lookup = GatewayTracing.Start("cache.lookup");
                hit = await cache.GetAsync(cacheKey!, context.RequestAborted);
            }

            if (hit is not null)
            {
                outcome.Cache = "hit";
                metrics.Cache(hit: true);
                await AnswerFromCacheAsync(context, dialect, request, hit, outcome);
                return;
            }

            if (outcome.Cache == "miss")
            {
                metrics.Cache(hit: false);
            }

            if (request.Stream == true)
            {
                await StreamAsync(context, dialect, request, candidates, outcome, settings.MaxAttempts, cacheKey);
            }
            else
            {
                await CompleteAsync(context, dialect, request, candidates, outcome, settings.MaxAttempts, cacheKey);
            }
        }
        catch (OperationCanceledException) when (callerAborted.IsCancellationRequested)
        {
            outcome.Status = 499;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            outcome.Status = 504;
            if (!context.Response.HasStarted)
            {
                context.RequestAborted = callerAborted;
                await dialect.WriteErrorAsync(context, new GatewayError(504, new OpenAiError($"The request did not finish within its deadline of {settings.RequestTimeout.TotalSeconds:0} s.", "api_error", null, "deadline_exceeded")));
            }
        }
        finally
        {
            await FinishAsync(outcome, started);
            Tag(activity, outcome);
            // The deadline's source is disposed when this method returns: hand the caller's token back first.
            context.RequestAborted = callerAborted;
        }
    }

    private static void Tag(System.Diagnostics.Activity? activity, Outcome outcome)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag("gen_ai.system", outcome.Provider);
        activity.SetTag("gen_ai.usage.input_tokens", outcome.Usage?.PromptTokens);
        activity.SetTag("gen_ai.usage.output_tokens", outcome.Usage?.CompletionTokens);
        activity.SetTag("aimesh.deployment", outcome.Deployment);
        activity.SetTag("aimesh.cache", outcome.Cache);
        activity.SetTag("aimesh.attempts", outcome.Attempts);
        activity.SetTag("aimesh.cost_usd", (double)outcome.CostUsd);
        activity.SetTag("http.response.status_code", outcome.Status);
        if (outcome.Status >= 400)
        {
            activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error);
        }
    }

    private async Task<(RoutePlan? Plan, GatewayError? Error)> RouteAsync(HttpContext context, Caller caller, ChatCompletionRequest request, int promptTokens, int outputTokens)
    {
        var model = request.Model!;
        var deployments = await directory.GetAsync(context.RequestAborted);
        var pinned = context.Request.Headers[PinHeader].ToString();
        var strategy = context.Request.Headers[StrategyHeader].ToString();
        if ((pinned.Length > 0 || strategy.Length > 0) && !caller.IsAdmin)
        {
            var header = pinned.Length > 0 ? PinHeader : StrategyHeader;
            return (null, new GatewayError(403, new OpenAiError($"Only admins may use the '{header}' header.", "permission_error", header, "forbidden")));
        }

        if (strategy.Length > 0 && !RoutingStrategies.All.Contains(strategy))
        {
            return (null, GatewayError.BadRequest($"'{strategy}' is not a routing strategy; use one of: {string.Join(", ", RoutingStrategies.All)}.", StrategyHeader, "unknown_strategy"));
        }

        if (pinned.Length > 0)
        {
            deployments = deployments.Where(d => d.Id == pinned).ToList();
        }

        var needs = RequestNeeds.Of(request, promptTokens, outputTokens);
        var plan = planner.Plan(deployments, model, needs, promptTokens, outputTokens, strategy.Length > 0 ? strategy : null);
        return plan.Problem switch
        {
            RouteProblem.None => (plan, null),
            RouteProblem.AllBreakersOpen => (null, new GatewayError(503, new OpenAiError($"Every deployment of model '{model}' is unavailable right now (circuit open).", "api_error", null, "model_unavailable"), 5)),
            RouteProblem.MissingCapability => (null, GatewayError.BadRequest($"No deployment of model '{model}' supports {needs.Describe()}.", "model", "unsupported_capability")),
            RouteProblem.ContextTooLong => (null, GatewayError.BadRequest($"This request needs about {needs.Tokens} tokens, more than the context window of every deployment of model '{plan.Model}'.", "messages", "context_length_exceeded")),
            _ => (null, GatewayError.ModelNotFound(model)),
        };
    }

    private async Task AnswerFromCacheAsync(HttpContext context, ISurfaceDialect dialect, ChatCompletionRequest request, CachedCompletion hit, Outcome outcome)
    {
        outcome.Deployment = hit.DeploymentId;
        outcome.Provider = hit.Provider;
        outcome.Status = 200;
        WriteRouteHeaders(context, outcome);
        context.Response.Headers["x-aimesh-cost-usd"] = "0";
        await AcknowledgeAsync(outcome);
        WriteOverhead(context, outcome);
        context.Response.StatusCode = StatusCodes.Status200OK;
        if (request.Stream != true)
        {
            await dialect.WriteCompletionAsync(context, hit.Completion);
            return;
        }

        StartStream(context);
        var stream = dialect.OpenStream(context, request, outcome.EstimatedPromptTokens);
        var usage = request.StreamOptions?.IncludeUsage == true ? JsonSerializer.SerializeToElement(hit.Usage) : (JsonElement?)null;
        foreach (var chunk in CompletionStreams.Replay(hit.Completion, usage))
        {
            await stream.WriteChunkAsync(chunk, usageOnly: false);
        }

        await stream.EndAsync(hit.Usage, costUsd: null);
    }

    private async Task CompleteAsync(HttpContext context, ISurfaceDialect dialect, ChatCompletionRequest request, IReadOnlyList<DeploymentInfo> candidates, Outcome outcome, int maxAttempts, string? cacheKey)
    {
        ProviderChatResult? last = null;
        foreach (var deployment in candidates.Take(maxAttempts))
        {
            if (!await ReserveDeploymentAsync(deployment, outcome, context.RequestAborted))
            {
                continue;
            }

            var attemptStarted = time.GetTimestamp();
            using (inFlight.Track(deployment.Id))
            using (var span = GatewayTracing.StartAttempt(deployment.Id, deployment.Provider, request.Model!))
            {
                last = await AttemptAsync(deployment, outcome.RequestId, request, context.RequestAborted);
                span?.SetTag("http.response.status_code", last.StatusCode);
            }

            var elapsed = time.GetElapsedTime(attemptStarted);
            outcome.Attempts++;
            outcome.ProviderTime += elapsed;
            await SettleDeploymentAsync(deployment, outcome, last.Failure == ProviderFailureKind.None ? last.CostUsd : 0m);
            metrics.Attempt(last.Provider, last.DeploymentId, last.StatusCode, elapsed.TotalSeconds);
            if (last.Failure != ProviderFailureKind.Transient)
            {
                break;
            }

            outcome.Failed.Add(new FailedAttempt(deployment.Id, last.StatusCode, elapsed.TotalMilliseconds));
            LogFailover(outcome.RequestId, deployment.Id, last.StatusCode);
        }

        if (last is null)
        {
            await dialect.WriteErrorAsync(context, outcome.DeploymentBudgetError ?? ProviderError(503, null, null));
            return;
        }

        outcome.Deployment = last.DeploymentId;
        outcome.Provider = last.Provider;
        outcome.Status = last.StatusCode;
        WriteRouteHeaders(context, outcome);
        if (last.Failure != ProviderFailureKind.None || last.Response is not { } body)
        {
            // The final attempt is the outcome itself, not a failover that preceded it.
            outcome.Failed.RemoveAll(f => f.DeploymentId == last.DeploymentId && last.Failure == ProviderFailureKind.Transient);
            await dialect.WriteErrorAsync(context, ProviderError(last.StatusCode, last.Error, last.RetryAfterSeconds));
            return;
        }

        outcome.Usage = last.Usage;
        outcome.CostUsd = last.CostUsd;
        context.Response.Headers["x-aimesh-cost-usd"] = FormatCost(last.CostUsd);
        await AcknowledgeAsync(outcome);
        WriteOverhead(context, outcome);
        contentPolicies.LogCompletion(outcome.Policy, outcome.RequestId, body);
        if (cacheKey is not null)
        {
            await cache.SetAsync(cacheKey, outcome.Caller.TenantId, request.Model!, new CachedCompletion(body, last.Usage ?? new Usage(), last.DeploymentId, last.Provider), CancellationToken.None);
        }

        await dialect.WriteCompletionAsync(context, body);
    }

    private async Task StreamAsync(HttpContext context, ISurfaceDialect dialect, ChatCompletionRequest request, IReadOnlyList<DeploymentInfo> candidates, Outcome outcome, int maxAttempts, string? cacheKey)
    {
        ProviderStreamEvent? lastFailure = null;
        foreach (var deployment in candidates.Take(maxAttempts))
        {
            if (!await ReserveDeploymentAsync(deployment, outcome, context.RequestAborted))
            {
                continue;
            }

            var attemptStarted = time.GetTimestamp();
            outcome.Attempts++;
            var settled = false;
            using var tracked = inFlight.Track(deployment.Id);
            using var span = GatewayTracing.StartAttempt(deployment.Id, deployment.Provider, request.Model!);
            try
            {
                await using var events = StreamAttempt(deployment, outcome.RequestId, request, context.RequestAborted).GetAsyncEnumerator(context.RequestAborted);
                var first = await events.MoveNextAsync() ? events.Current : null;
                outcome.ProviderTime += time.GetElapsedTime(attemptStarted);
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
                StartStream(context);
                WriteOverhead(context, outcome);
                metrics.FirstToken(deployment.Provider, request.Model!, time.GetElapsedTime(attemptStarted).TotalSeconds);
                var writer = dialect.OpenStream(context, request, outcome.EstimatedPromptTokens);
                var chunks = cacheKey is null && !outcome.Policy.LogPrompts ? null : new List<string>();
                var firstSent = false;
                var streamedChars = 0L;
                try
                {
                    while (true)
                    {
                        // Writes are buffered; they go out (headers with the first) whenever the next event is not
                        // there yet. So chunks that arrived together leave in one write, and none waits for the provider.
                        var next = events.MoveNextAsync();
                        if (!next.IsCompleted)
                        {
                            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
                        }

                        if (!await next)
                        {
                            break;
                        }

                        var item = events.Current;
                        switch (item.Kind)
                        {
                            case StreamEventKind.Chunk:
                                if (!item.UsageOnly)
                                {
                                    chunks?.Add(item.Chunk!);
                                }

                                streamedChars += item.ContentChars;
                                await writer.WriteChunkAsync(item.Chunk!, item.UsageOnly);
                                if (!firstSent)
                                {
                                    // The first chunk goes out at once, with the headers: a stream that arrived whole
                                    // would otherwise reach the client only at its end, behind the usage commit.
                                    firstSent = true;
                                    await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
                                }

                                break;
                            case StreamEventKind.End:
                                outcome.Usage = item.Usage;
                                outcome.CostUsd = item.CostUsd;
                                await SettleDeploymentAsync(deployment, outcome, item.CostUsd);
                                settled = true;
                                await AcknowledgeAsync(outcome);
                                if (chunks is not null)
                                {
                                    // Chunks are kept only to cache the answer or to log it for a tenant that opted in.
                                    var completion = JsonSerializer.SerializeToElement(CompletionStreams.Assemble(chunks));
                                    contentPolicies.LogCompletion(outcome.Policy, outcome.RequestId, completion);
                                    if (cacheKey is not null)
                                    {
                                        await cache.SetAsync(cacheKey, outcome.Caller.TenantId, request.Model!, new CachedCompletion(completion, item.Usage ?? new Usage(), first.DeploymentId!, first.Provider!), CancellationToken.None);
                                    }
                                }

                                await writer.EndAsync(item.Usage, item.CostUsd);
                                break;
                            case StreamEventKind.Error:
                                outcome.Status = item.StatusCode;
                                EstimateUnfinished(outcome, deployment, streamedChars);
                                await writer.ErrorAsync(ProviderError(item.StatusCode, item.Error, null));
                                break;
                        }
                    }
                }
                catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
                {
                    // The caller hung up or the deadline passed: the provider bills what it generated until then.
                    EstimateUnfinished(outcome, deployment, streamedChars);
                    throw;
                }

                await context.Response.BodyWriter.FlushAsync(context.RequestAborted);

                metrics.Attempt(deployment.Provider, deployment.Id, outcome.Status, time.GetElapsedTime(attemptStarted).TotalSeconds);
                return;
            }
            finally
            {
                if (!settled)
                {
                    await SettleDeploymentAsync(deployment, outcome, outcome.CostUsd);
                }
            }
        }

        if (lastFailure is null)
        {
            await dialect.WriteErrorAsync(context, outcome.DeploymentBudgetError ?? ProviderError(503, null, null));
            return;
        }

        outcome.Deployment = lastFailure.DeploymentId;
        outcome.Provider = lastFailure.Provider;
        outcome.Status = lastFailure.StatusCode;
        // The final attempt is the outcome itself, not a failover that preceded it.
        outcome.Failed.RemoveAll(f => f.DeploymentId == outcome.Deployment && lastFailure.Failure == ProviderFailureKind.Transient);
        WriteRouteHeaders(context, outcome);
        await dialect.WriteErrorAsync(context, ProviderError(outcome.Status, lastFailure.Error, null));
    }

    /// <summary>
    /// A stream that started but ended without the provider's usage (the caller hung up, the deadline passed,
    /// the stream broke) still cost the prompt and what was generated: the ledger and the budgets get an
    /// estimate, the estimated prompt tokens and about four characters a token of the text streamed, at the
    /// deployment's reservation price.
    /// </summary>
    private static void EstimateUnfinished(Outcome outcome, DeploymentInfo deployment, long streamedChars)
    {
        if (outcome.Usage is not null)
        {
            return;
        }

        var completion = (int)Math.Min(int.MaxValue, (streamedChars + 3) / 4);
        outcome.Usage = new Usage { PromptTokens = outcome.EstimatedPromptTokens, CompletionTokens = completion, TotalTokens = outcome.EstimatedPromptTokens + completion };
        outcome.CostUsd = deployment.ReservationPrice?.Cost(outcome.EstimatedPromptTokens, completion) ?? 0m;
    }

    /// <summary>A deployment with a daily budget is only tried when its quota actor grants the reservation.</summary>
    private async Task<bool> ReserveDeploymentAsync(DeploymentInfo deployment, Outcome outcome, CancellationToken cancellationToken)
    {
        if (!budgets.CurrentValue.HasBudget(deployment.Id))
        {
            return true;
        }

        var estimate = deployment.ReservationPrice?.Cost(outcome.EstimatedPromptTokens, outcome.EstimatedOutputTokens) ?? 0m;
        var decision = await quota.ReserveAsync(QuotaSubjects.Deployment(deployment.Id), new QuotaReservation(outcome.RequestId, 0, estimate), cancellationToken);
        if (decision.Allowed)
        {
            return true;
        }

        metrics.Rejected("deployment_budget");
        outcome.DeploymentBudgetError = QuotaError(decision, $"Deployment '{deployment.Id}'");
        return false;
    }

    private async Task SettleDeploymentAsync(DeploymentInfo deployment, Outcome outcome, decimal cost)
    {
        if (budgets.CurrentValue.HasBudget(deployment.Id))
        {
            await quota.SettleAsync(QuotaSubjects.Deployment(deployment.Id), new QuotaSettlement(outcome.RequestId, 0, cost), CancellationToken.None);
        }
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

    /// <summary>Makes the request's cost durable: the usage event is in the outbox and the tenant's reservation settled.</summary>
    private Task AcknowledgeAsync(Outcome outcome)
    {
        // Both are durable writes: started together, they share one commit.
        Task publish, settle;
        using (DurableWrites.Together())
        {
            publish = PublishUsageAsync(outcome);
            settle = SettleTenantAsync(outcome);
        }

        return Task.WhenAll(publish, settle);
    }

    private async Task FinishAsync(Outcome outcome, long started)
    {
        // Failures and abandoned streams end here; successes were acknowledged before the answer.
        Task publish, settle;
        using (DurableWrites.Together())
        {
            publish = !outcome.Published && outcome.Deployment is not null ? PublishUsageAsync(outcome) : Task.CompletedTask;
            settle = SettleTenantAsync(outcome);
        }

        await Task.WhenAll(publish, settle);
        if (outcome.Usage is { } usage && outcome.Provider is not null && outcome.Cache != "hit")
        {
            metrics.Usage(outcome.Provider, outcome.Deployment!, usage.PromptTokens, usage.CompletionTokens, outcome.CostUsd);
            metrics.Operation(outcome.Provider, outcome.Model, time.GetElapsedTime(started).TotalSeconds, usage.PromptTokens, usage.CompletionTokens);
        }

        var latencyMs = time.GetElapsedTime(started).TotalMilliseconds;
        if (outcome.Status is >= 200 and < 400)
        {
            LogRequestSuccess(LogEvents.RequestSuccess, outcome.RequestId, outcome.Caller.TenantId, outcome.Model, outcome.Deployment ?? "-", outcome.Status, outcome.Attempts,
                outcome.Usage?.PromptTokens ?? 0, outcome.Usage?.CompletionTokens ?? 0, outcome.CostUsd, outcome.Cache, latencyMs);
        }
        else
        {
            LogRequestFailure(LogEvents.RequestFailure, outcome.RequestId, outcome.Caller.TenantId, outcome.Model, outcome.Deployment ?? "-", outcome.Status, outcome.Attempts,
                outcome.Usage?.PromptTokens ?? 0, outcome.Usage?.CompletionTokens ?? 0, outcome.CostUsd, outcome.Cache, latencyMs);
        }
    }

    /// <summary>Settles the tenant's reservation and the key's (when it has limits of its own), both at once.</summary>
    private Task SettleTenantAsync(Outcome outcome)
    {
        if (outcome.Settled)
        {
            return Task.CompletedTask;
        }

        outcome.Settled = true;
        var hit = outcome.Cache == "hit";
        var tokens = hit ? 0 : (outcome.Usage?.PromptTokens ?? 0) + (outcome.Usage?.CompletionTokens ?? 0);
        var settlement = new QuotaSettlement(outcome.RequestId, tokens, hit ? 0m : outcome.CostUsd);
        var tenant = quota.SettleAsync(outcome.Subject, settlement, CancellationToken.None);
        return outcome.KeySubject is null ? tenant : Task.WhenAll(tenant, quota.SettleAsync(outcome.KeySubject, settlement, CancellationToken.None));
    }

    private async Task PublishUsageAsync(Outcome outcome)
    {
        outcome.Published = true;
        var hit = outcome.Cache == "hit";
        var usage = new UsageEvent
        {
            RequestId = outcome.RequestId,
            ClientRequestId = outcome.ClientRequestId,
            TenantId = outcome.Caller.TenantId,
            KeyId = outcome.Caller.KeyId,
            Model = outcome.Model,
            DeploymentId = outcome.Deployment,
            Provider = outcome.Provider,
            // A cache hit used no provider tokens and cost nothing.
            PromptTokens = hit ? 0 : outcome.Usage?.PromptTokens ?? 0,
            CompletionTokens = hit ? 0 : outcome.Usage?.CompletionTokens ?? 0,
            CostUsd = hit ? 0 : outcome.CostUsd,
            LatencyMs = time.GetElapsedTime(outcome.Started).TotalMilliseconds,
            Status = outcome.Status,
            Streamed = outcome.Streamed,
            Cache = outcome.Cache,
            Timestamp = time.GetUtcNow(),
            FailedAttempts = outcome.Failed.ToArray(),
            Content = outcome.Content,
        };
        await events.PublishAsync(Topics.Usage, usage, CancellationToken.None);
    }

    /// <summary>Time spent in AiMesh so far, the provider's time excluded: a header and a histogram.</summary>
    private void WriteOverhead(HttpContext context, Outcome outcome)
    {
        var overhead = time.GetElapsedTime(outcome.Started) - outcome.ProviderTime;
        metrics.Overhead(Math.Max(0, overhead.TotalSeconds));
        context.Response.Headers["x-aimesh-overhead-ms"] = Math.Max(0, overhead.TotalMilliseconds).ToString("0.###", CultureInfo.InvariantCulture);
    }

    private static decimal EstimateCost(IReadOnlyList<DeploymentInfo> candidates, int promptTokens, int outputTokens) =>
        candidates.Max(d => d.ReservationPrice?.Cost(promptTokens, outputTokens) ?? 0m);

    private static bool NoCache(HttpContext context) =>
        context.Request.Headers.CacheControl.ToString().Contains("no-cache", StringComparison.OrdinalIgnoreCase);

    private static void StartStream(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["x-accel-buffering"] = "no";
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
        new(status, new OpenAiError(error?.Message ?? "No deployment could serve the request.", error?.Type ?? "api_error", error?.Param, error?.Code), retryAfter);

    /// <summary>A refusal in OpenAI's shape, saying whose limit it was (tenant, key or deployment).</summary>
    internal static GatewayError QuotaError(QuotaDecision decision, string whose) => decision.DeniedBy == "budget"
        ? new GatewayError(429, new OpenAiError($"{whose}: {decision.Message ?? "Budget exhausted."}", "insufficient_quota", null, "budget_exceeded"), decision.RetryAfterSeconds)
        : new GatewayError(429, new OpenAiError($"{whose}: {decision.Message ?? "Rate limit reached."}", "rate_limit_error", null, "rate_limit_exceeded"), decision.RetryAfterSeconds);

    internal static void WriteRateLimitHeaders(HttpContext context, QuotaDecision decision)
    {
        var headers = context.Response.Headers;
        if (decision.LimitRequests > 0)
        {
            headers["x-ratelimit-limit-requests"] = decision.LimitRequests.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-requests"] = decision.RemainingRequests.ToString(CultureInfo.InvariantCulture);
        }

        if (decision.RemainingTokens > 0 || !decision.Allowed)
        {
            headers["x-ratelimit-remaining-tokens"] = decision.RemainingTokens.ToString(CultureInfo.InvariantCulture);
        }
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
        headers["x-aimesh-cache"] = outcome.Cache;
    }

    public static string FormatCost(decimal cost) => cost.ToString("0.##########", CultureInfo.InvariantCulture);

    /// <summary>What happened to one request, gathered for the usage event, the settlement and the log.</summary>
    private sealed class Outcome(string requestId, Caller caller, string model, long started)
    {
        public string RequestId { get; } = requestId;
        /// <summary>The caller's own x-request-id, if it sent a sane one.</summary>
        public string? ClientRequestId { get; init; }
        public Caller Caller { get; } = caller;
        public string Subject { get; } = QuotaGate.TenantSubject(caller);
        /// <summary>The key's quota subject when the key has limits of its own.</summary>
        public string? KeySubject { get; } = QuotaGate.KeySubject(caller);
        public string Model { get; } = model;
        public long Started { get; } = started;
        public int EstimatedPromptTokens { get; init; }
        public int EstimatedOutputTokens { get; init; }
        public string? Deployment { get; set; }
        public string? Provider { get; set; }
        public int Status { get; set; }
        public int Attempts { get; set; }
        public bool Streamed { get; set; }
        public bool Published { get; set; }
        public bool Settled { get; set; }
        public string Cache { get; set; } = "bypass";
        public Usage? Usage { get; set; }
        public decimal CostUsd { get; set; }
        /// <summary>Time the attempts took (to the first event, for streams): what is not the gateway's own.</summary>
        public TimeSpan ProviderTime { get; set; }
        public GatewayError? DeploymentBudgetError { get; set; }
        public ContentPolicy Policy { get; init; } = new();
        /// <summary>What screening and redaction found; recorded with the usage event.</summary>
        public ContentFindings? Content { get; init; }
        public List<FailedAttempt> Failed { get; } = [];
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Request {RequestId}: deployment {DeploymentId} failed with {Status}; failing over")]
    private partial void LogFailover(string requestId, string deploymentId, int status);

    // The seeds' event names ("request_success", "request_failure") are also a field (EventName), so JSON logs can be filtered on them.
    [LoggerMessage(EventId = 2002, EventName = LogEvents.RequestSuccess, Level = LogLevel.Information,
        Message = "{EventName}: request {RequestId} tenant {TenantId} model {Model} deployment {DeploymentId} status {Status} attempts {Attempts} tokens {PromptTokens}+{CompletionTokens} cost {CostUsd} USD cache {Cache} in {LatencyMs} ms")]
    private partial void LogRequestSuccess(string eventName, string requestId, string tenantId, string model, string deploymentId, int status, int attempts, int promptTokens, int completionTokens, decimal costUsd, string cache, double latencyMs);

    [LoggerMessage(EventId = 2003, EventName = LogEvents.RequestFailure, Level = LogLevel.Warning,
        Message = "{EventName}: request {RequestId} tenant {TenantId} model {Model} deployment {DeploymentId} status {Status} attempts {Attempts} tokens {PromptTokens}+{CompletionTokens} cost {CostUsd} USD cache {Cache} in {LatencyMs} ms")]
    private partial void LogRequestFailure(string eventName, string requestId, string tenantId, string model, string deploymentId, int status, int attempts, int promptTokens, int completionTokens, decimal costUsd, string cache, double latencyMs);
}
