using System.Text.Json.Nodes;
using AiMesh.Contracts;
using AiMesh.Router.Auth;
using AiMesh.Router.OpenAi;
using AiMesh.Router.Pipeline;
using AiMesh.Router.Routing;
using AiMesh.Router.Telemetry;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Anthropic;

/// <summary>
/// <c>POST /v1/messages/count_tokens</c>: the input tokens of a Messages request, counted without
/// calling a provider: the o200k tokenizer with the per-message overheads, the same estimate quotas
/// reserve. Like Anthropic's own count it is an estimate. The request is checked as a Messages request
/// is (without <c>max_tokens</c>) and counts against the caller's requests per minute, not its tokens or
/// budget; nothing is recorded in the ledger.
/// </summary>
public sealed class MessageTokenCounter(
    TenantAuthenticator authenticator,
    IValidationClient validation,
    IQuotaClient quota,
    DeploymentDirectory directory,
    GatewayMetrics metrics,
    IOptionsMonitor<RouterOptions> options,
    TimeProvider time)
{
    // Counting sends no prompt anywhere: no screening or redaction to apply.
    private static readonly ContentPolicy NoContentPolicy = new() { Screening = ContentPolicy.Off, Pii = ContentPolicy.Off };

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var dialect = AnthropicDialect.Instance;
        var (requestId, _) = RequestIds.Resolve(context, time);
        var caller = await authenticator.AuthenticateAsync(context.Request, context.RequestAborted);
        if (caller is null)
        {
            await dialect.WriteErrorAsync(context, GatewayError.Unauthorized());
            return;
        }

        var (request, error) = await ReadAsync(context);
        if (error is not null)
        {
            await dialect.WriteErrorAsync(context, error);
            return;
        }

        var verdict = await validation.ValidateChatAsync(request!, NoContentPolicy, context.RequestAborted);
        if (!verdict.IsValid)
        {
            await dialect.WriteErrorAsync(context, GatewayError.Invalid(verdict));
            return;
        }

        request = verdict.Normalised!;
        var model = request.Model!;
        if (!caller.MayUse(model))
        {
            await dialect.WriteErrorAsync(context, GatewayError.ModelNotAllowed(model));
            return;
        }

        var deployments = await directory.GetAsync(context.RequestAborted);
        if (!deployments.Any(d => DeploymentDirectory.Serves(d, model)))
        {
            await dialect.WriteErrorAsync(context, GatewayError.ModelNotFound(model));
            return;
        }

        var gate = await QuotaGate.ReserveAsync(quota, caller, new QuotaReservation(requestId, 0, 0m), context.RequestAborted);
        ChatPipeline.WriteRateLimitHeaders(context, gate.Decision);
        if (!gate.Decision.Allowed)
        {
            metrics.Rejected(gate.Decision.DeniedBy ?? "rate_limit");
            await dialect.WriteErrorAsync(context, ChatPipeline.QuotaError(gate.Decision, gate.DeniedFor));
            return;
        }

        // Settled at once: the request counts in the minute's requests, and no tokens or cost are kept.
        var settlement = new QuotaSettlement(requestId, 0, 0m);
        await quota.SettleAsync(gate.Subject, settlement, CancellationToken.None);
        if (gate.KeySubject is not null)
        {
            await quota.SettleAsync(gate.KeySubject, settlement, CancellationToken.None);
        }

        await TypedResults.Json(new JsonObject { ["input_tokens"] = TokenEstimator.EstimatePromptTokens(request) }).ExecuteAsync(context);
    }

    /// <summary>A Messages request without <c>max_tokens</c>, which a count takes none of: the translation needs one.</summary>
    private async Task<(ChatCompletionRequest? Request, GatewayError? Error)> ReadAsync(HttpContext context)
    {
        var (body, error) = await RequestReader.ReadAsync<JsonObject>(context, options.CurrentValue.MaxRequestBodyBytes);
        if (error is not null)
        {
            return (null, error);
        }

        body!["max_tokens"] ??= 1;
        body.Remove("stream");
        return AnthropicRequests.Translate(body);
    }
}
