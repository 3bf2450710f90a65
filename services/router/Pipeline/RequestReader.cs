using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.Router.OpenAi;
using Microsoft.AspNetCore.Http.Features;

namespace AiMesh.Router.Pipeline;

/// <summary>Reads a JSON body within the size limit; every way it can be wrong becomes a 4xx that says where.</summary>
public static class RequestReader
{
    public static async Task<(T? Value, GatewayError? Error)> ReadAsync<T>(HttpContext context, long maxBytes) where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        var contentType = context.Request.ContentType;
        if (contentType is not null && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, new GatewayError(415, new OpenAiError($"Content-Type '{contentType}' is not supported; send application/json.", "invalid_request_error", null, "unsupported_media_type")));
        }

        if (context.Request.ContentLength > maxBytes)
        {
            return (null, TooLarge(maxBytes));
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        byte[] body;
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            body = buffer.ToArray();
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(maxBytes));
        }

        // JsonElement values (message content) are only transcoded when read: check the whole body now.
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            return (null, GatewayError.BadRequest("The request body is not valid UTF-8.", code: "invalid_encoding"));
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(body, AiMeshJson.Options);
            return value is null
                ? (null, GatewayError.BadRequest("The request body must be a JSON object.", code: "invalid_json"))
                : (value, null);
        }
        catch (JsonException exception)
        {
            var where = exception.LineNumber is { } line ? $" at line {line + 1}, position {exception.BytePositionInLine + 1}" : string.Empty;
            var param = string.IsNullOrEmpty(exception.Path) || exception.Path == "$" ? null : exception.Path.TrimStart('$', '.');
            var what = param is null ? "The request body is not valid JSON" : $"The value of '{param}' has the wrong type or is not valid JSON";
            return (null, GatewayError.BadRequest($"{what}{where}.", param, "invalid_json"));
        }
    }

    private static GatewayError TooLarge(long maxBytes) =>
        new(413, new OpenAiError($"The request body is larger than {maxBytes} bytes.", "invalid_request_error", null, "request_too_large"));
}
