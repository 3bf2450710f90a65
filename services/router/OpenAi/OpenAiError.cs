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
