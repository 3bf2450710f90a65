using System.IO.Compression;
using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.Router.OpenAi;
using Microsoft.AspNetCore.Http.Features;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// Reads a JSON body within the size limit, uncompressed or compressed (Content-Encoding gzip, deflate
/// or br; the limit then counts the uncompressed bytes); every way it can be wrong becomes a 4xx that says where.
/// </summary>
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

        var encoding = context.Request.Headers.ContentEncoding.ToString().Trim();
        if (encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase) && Decompressor(encoding) is null)
        {
            return (null, new GatewayError(415, new OpenAiError($"Content-Encoding '{encoding}' is not supported; send the body uncompressed, or compressed with gzip, deflate or br.", "invalid_request_error", null, "unsupported_media_type")));
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

        if (Decompressor(encoding) is { } decompress)
        {
            var (inflated, error) = await InflateAsync(body, decompress, encoding, maxBytes, context.RequestAborted);
            if (error is not null)
            {
                return (null, error);
            }

            body = inflated!;
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

    private static Func<Stream, Stream>? Decompressor(string encoding) => encoding.ToLowerInvariant() switch
    {
        "gzip" or "x-gzip" => static s => new GZipStream(s, CompressionMode.Decompress),
        "deflate" => static s => new ZLibStream(s, CompressionMode.Decompress),
        "br" => static s => new BrotliStream(s, CompressionMode.Decompress),
        _ => null,
    };

    /// <summary>The uncompressed body, read no further than the limit (a small body may inflate to gigabytes).</summary>
    private static async Task<(byte[]? Body, GatewayError? Error)> InflateAsync(byte[] compressed, Func<Stream, Stream> decompress, string encoding, long maxBytes, CancellationToken cancellationToken)
    {
        using var output = new MemoryStream();
        try
        {
            await using var input = decompress(new MemoryStream(compressed, writable: false));
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await input.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (output.Length + read > maxBytes)
                {
                    return (null, TooLarge(maxBytes, " uncompressed"));
                }

                output.Write(chunk, 0, read);
            }
        }
        catch (Exception exception) when (exception is InvalidDataException or InvalidOperationException)
        {
            // GZip and ZLib say InvalidDataException; Brotli's decoder says InvalidOperationException.
            return (null, GatewayError.BadRequest($"The request body is not valid {encoding} data (Content-Encoding: {encoding}).", code: "invalid_encoding"));
        }

        return (output.ToArray(), null);
    }

    private static GatewayError TooLarge(long maxBytes, string how = "") =>
        new(413, new OpenAiError($"The request body is larger than {maxBytes} bytes{how}.", "invalid_request_error", null, "request_too_large"));
}
