using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace AiMesh.ServiceDefaults;

/// <summary>
/// Turns a request body an endpoint could not bind (malformed JSON, an unknown field, a wrong type)
/// into a ProblemDetails that says what and where, instead of a bare 400. Endpoints throw these
/// because <c>RouteHandlerOptions.ThrowOnBadRequest</c> is on; status codes (400, 413, 415) are kept.
/// </summary>
internal sealed class BadRequestDetails(RequestDelegate next, IProblemDetailsService problems)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            context.Response.StatusCode = e.StatusCode;
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = { Status = e.StatusCode, Detail = Describe(e) },
            });
        }
    }

    /// <summary>What is wrong, by JSON path; never .NET type names nor the offending value.</summary>
    public static string Describe(BadHttpRequestException exception) => exception.InnerException switch
    {
        JsonException { Path: { } path } json when json.Message.Contains("could not be mapped", StringComparison.Ordinal) =>
            $"'{path[(path.LastIndexOf('.') + 1)..]}' is not a known field (at {path}).",
        JsonException { Path: var path, LineNumber: var line, BytePositionInLine: var position } when path is null or "$" =>
            $"The request body is not valid JSON (line {line + 1}, byte {position + 1}).",
        JsonException { Path: var path } => $"The value at {path} has the wrong type or format, or the JSON there is malformed.",
        _ => exception.Message,
    };
}
