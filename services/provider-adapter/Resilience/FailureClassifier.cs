using System.Net;
using AiMesh.Contracts;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace AiMesh.ProviderAdapter.Resilience;

/// <summary>Which provider failures are worth another attempt (here or at another deployment).</summary>
public static class FailureClassifier
{
    /// <summary>Anthropic's "overloaded".</summary>
    public const int Overloaded = 529;

    public static bool IsTransient(HttpStatusCode status) => (int)status switch
    {
        408 or 429 or 500 or 502 or 503 or 504 or Overloaded => true,
        _ => false,
    };

    /// <summary>
    /// Neither a success nor an error: a redirect (the provider client follows none) or another 1xx/3xx.
    /// The deployment's endpoint is wrong, not the request: the caller sees 502 and the router tries another deployment.
    /// </summary>
    public static bool IsUnexpected(HttpStatusCode status) => (int)status is < 200 or (>= 300 and < 400);

    /// <summary>What the caller is told of a provider's status that <see cref="IsUnexpected"/>.</summary>
    public static ProviderError UnexpectedStatusError(HttpStatusCode status) => new(
        $"The provider answered HTTP {(int)status}, which is not an answer: AiMesh follows no redirects from providers (check the deployment's endpoint).",
        "api_error", "bad_gateway");

    public static ProviderFailureKind Classify(HttpStatusCode status) =>
        (int)status < 400 ? ProviderFailureKind.None
        : IsTransient(status) ? ProviderFailureKind.Transient
        : ProviderFailureKind.Permanent;

    /// <summary>Transport-level failures: never the caller's fault.</summary>
    public static bool IsTransient(Exception exception) => exception is
        HttpRequestException or TimeoutRejectedException or BrokenCircuitException or IOException;

    /// <summary>The status the caller sees for a transport failure.</summary>
    public static int StatusFor(Exception exception) => exception switch
    {
        TimeoutRejectedException => (int)HttpStatusCode.GatewayTimeout,
        BrokenCircuitException => (int)HttpStatusCode.ServiceUnavailable,
        _ => (int)HttpStatusCode.BadGateway,
    };

    /// <summary>Retry-After (delta or date) or OpenAI's retry-after-ms, in seconds.</summary>
    public static double? RetryAfterSeconds(HttpResponseMessage response, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.Headers.TryGetValues("retry-after-ms", out var ms)
            && double.TryParse(ms.FirstOrDefault(), System.Globalization.CultureInfo.InvariantCulture, out var milliseconds))
        {
            return Math.Max(0, milliseconds / 1000);
        }

        return response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => Math.Max(0, delta.TotalSeconds),
            { Date: { } date } => Math.Max(0, (date - now).TotalSeconds),
            _ => null,
        };
    }
}
