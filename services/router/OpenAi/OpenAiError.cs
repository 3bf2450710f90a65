using System.Text.Json.Serialization;

namespace AiMesh.Router.OpenAi;

/// <summary>OpenAI's error body: <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed record OpenAiErrorBody([property: JsonPropertyName("error")] OpenAiError Error);

public sealed record OpenAiError(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("param")] string? Param,
    [property: JsonPropertyName("code")] string? Code);

/// <summary>An error on the OpenAI surface: status, body, and optionally Retry-After.</summary>
public sealed record GatewayError(int Status, OpenAiError Error, double? RetryAfterSeconds = null)
{
    public static GatewayError BadRequest(string message, string? param = null, string code = "invalid_request") =>
        new(400, new OpenAiError(message, "invalid_request_error", param, code));

    /// <summary>A chat request validation refused: every issue's message, the first one's field and code.</summary>
    public static GatewayError Invalid(AiMesh.Contracts.ValidationVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(verdict);
        var first = verdict.Issues[0];
        return BadRequest(string.Join(" ", verdict.Issues.Select(i => i.Message)), first.Param, first.Code ?? "invalid_request");
    }

    public static GatewayError ModelNotAllowed(string model) =>
        new(403, new OpenAiError($"This key may not use the model '{model}'.", "permission_error", "model", "model_not_allowed"));

    public static GatewayError ModelNotFound(string model) =>
        new(404, new OpenAiError($"The model '{model}' does not exist or you do not have access to it.", "invalid_request_error", "model", "model_not_found"));

    public static GatewayError Unauthorized() =>
        new(401, new OpenAiError("Missing or invalid API key. Send it as 'Authorization: Bearer <key>'.", "authentication_error", null, "invalid_api_key"));

    public IResult ToResult(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (RetryAfterSeconds is { } seconds)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(seconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return TypedResults.Json(new OpenAiErrorBody(Error), statusCode: Status);
    }
}
