using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.Router.Auth;
using AiMesh.Router.Telemetry;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// Which content policy applies to a caller (the tenant's own, else <c>AiMesh:ContentPolicy</c>),
/// and how its verdicts are recorded: metrics, a log event and span tags with rule names and
/// counts — never the matched text. Prompts and completions are logged only for tenants that opt in.
/// </summary>
public sealed partial class ContentPolicies(IOptionsMonitor<ContentPolicy> defaults, GatewayMetrics metrics, ILogger<ContentPolicies> logger)
{
    public const string Section = "AiMesh:ContentPolicy";

    public ContentPolicy For(Caller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return caller.Tenant?.ContentPolicy ?? defaults.CurrentValue;
    }

    public void Record(string requestId, string tenantId, ContentFindings? findings, System.Diagnostics.Activity? activity)
    {
        if (findings is null)
        {
            return;
        }

        if (findings.Screening != ContentFindings.NotChecked)
        {
            metrics.Screened(findings.Screening);
        }

        var action = findings.Pii == ContentFindings.Blocked ? "blocked" : "redacted";
        foreach (var (kind, count) in findings.Redactions)
        {
            metrics.PiiFound(kind, action, count);
        }

        activity?.SetTag("aimesh.screening", findings.Screening);
        activity?.SetTag("aimesh.pii", findings.Pii);
        if ((findings.Signals.Count > 0 || findings.Redactions.Count > 0) && logger.IsEnabled(LogLevel.Warning))
        {
            LogFindings(requestId, tenantId, findings.Screening, string.Join(",", findings.Signals), findings.Pii,
                string.Join(",", findings.Redactions.Select(r => $"{r.Key}={r.Value}")));
        }
    }

    /// <summary>Logs the prompt as the provider gets it (after redaction), when the policy opts in.</summary>
    public void LogPrompt(ContentPolicy policy, string requestId, ChatCompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (!policy.LogPrompts || !logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var prompt = JsonSerializer.Serialize(request.Messages, AiMesh.BuildingBlocks.AiMeshJson.Options);
        LogPromptText(requestId, prompt);
    }

    public void LogCompletion(ContentPolicy policy, string requestId, JsonElement completion)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (!policy.LogPrompts || !logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var text = completion.GetRawText();
        LogCompletionText(requestId, text);
    }

    [LoggerMessage(EventId = 2020, EventName = "ai_content_screened", Level = LogLevel.Warning,
        Message = "Request {RequestId} tenant {TenantId}: screening {Screening} ({Signals}), pii {Pii} ({Redactions})")]
    private partial void LogFindings(string requestId, string tenantId, string screening, string signals, string pii, string redactions);

    [LoggerMessage(EventId = 2021, EventName = "ai_prompt_logged", Level = LogLevel.Information,
        Message = "Request {RequestId} prompt (tenant opted in to prompt logging): {Prompt}")]
    private partial void LogPromptText(string requestId, string prompt);

    [LoggerMessage(EventId = 2022, EventName = "ai_completion_logged", Level = LogLevel.Information,
        Message = "Request {RequestId} completion (tenant opted in to prompt logging): {Completion}")]
    private partial void LogCompletionText(string requestId, string completion);
}
