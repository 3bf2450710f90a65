using AiMesh.Router.Anthropic;
using AiMesh.Router.OpenAi;
using AiMesh.Router.Pipeline;
using Microsoft.AspNetCore.Diagnostics;

namespace AiMesh.Router.Apis;

/// <summary>
/// Answers without a body under <c>/v1</c> (no such endpoint: 404; a wrong method: 405) in the API's own
/// error shape instead of ProblemDetails, because SDKs read the message from it: Anthropic's under
/// <c>/v1/messages</c>, OpenAI's elsewhere. Other paths (<c>/admin</c>, operations) keep ProblemDetails.
/// </summary>
public static class ApiStatusPages
{
    public static IServiceCollection AddApiStatusPages(this IServiceCollection services) =>
        services.Configure<StatusCodePagesOptions>(options =>
        {
            var problemDetails = options.HandleAsync;
            options.HandleAsync = context => DialectOf(context.HttpContext.Request.Path) is { } dialect
                ? dialect.WriteErrorAsync(context.HttpContext, ErrorFor(context.HttpContext))
                : problemDetails(context);
        });

    private static ISurfaceDialect? DialectOf(PathString path) =>
        path.StartsWithSegments("/v1/messages") ? AnthropicDialect.Instance
        : path.StartsWithSegments("/v1") ? OpenAiDialect.Instance
        : null;

    private static GatewayError ErrorFor(HttpContext context)
    {
        var request = context.Request;
        var status = context.Response.StatusCode;
        var (message, code) = status switch
        {
            StatusCodes.Status404NotFound => ($"Unknown endpoint: {request.Method} {request.Path}.", "unknown_url"),
            StatusCodes.Status405MethodNotAllowed => ($"{request.Method} is not allowed on {request.Path}; allowed: {context.Response.Headers.Allow}.", "method_not_allowed"),
            _ => (ReasonPhrase(status), null as string),
        };
        var type = status switch
        {
            StatusCodes.Status401Unauthorized => "authentication_error",
            StatusCodes.Status403Forbidden => "permission_error",
            >= 500 => "api_error",
            _ => "invalid_request_error",
        };
        return new GatewayError(status, new OpenAiError(message, type, null, code));
    }

    private static string ReasonPhrase(int status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase + "." : $"HTTP {status}.";
}
