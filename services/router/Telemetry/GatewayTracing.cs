using System.Diagnostics;

namespace AiMesh.Router.Telemetry;

/// <summary>The router's spans, named and tagged after the OpenTelemetry GenAI semantic conventions.</summary>
public static class GatewayTracing
{
    public const string SourceName = "AiMesh.Router";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>"chat {model}": the whole request, as the GenAI conventions name an inference span.</summary>
    public static Activity? StartChat(string model, string requestId, string? clientRequestId, string tenantId)
    {
        var activity = Source.StartActivity($"chat {model}", ActivityKind.Server);
        activity?.SetTag("gen_ai.operation.name", "chat");
        activity?.SetTag("gen_ai.request.model", model);
        activity?.SetTag("aimesh.request_id", requestId);
        activity?.SetTag("aimesh.client_request_id", clientRequestId);
        activity?.SetTag("aimesh.tenant", tenantId);
        return activity;
    }

    /// <summary>One attempt at one deployment.</summary>
    public static Activity? StartAttempt(string deploymentId, string provider, string model)
    {
        var activity = Source.StartActivity($"attempt {deploymentId}", ActivityKind.Client);
        activity?.SetTag("gen_ai.system", provider);
        activity?.SetTag("gen_ai.request.model", model);
        activity?.SetTag("aimesh.deployment", deploymentId);
        return activity;
    }

    public static Activity? Start(string name) => Source.StartActivity(name, ActivityKind.Internal);
}
