using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace AiMesh.Router.Security;

/// <summary>Limits on failed authentication per client address (section <c>AiMesh:Security</c>).</summary>
public sealed class SecurityOptions
{
    public const string Section = "AiMesh:Security";

    /// <summary>Failed authentications (401) from one address within <see cref="FailureWindow"/> before it is refused.</summary>
    /// <value>Defaults to 20.</value>
    public int MaxFailedAuthentications { get; set; } = 20;

    /// <value>Defaults to 1 minute.</value>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Origins allowed to call AiMesh from a browser (CORS); none by default, so CORS stays off.</summary>
    public List<string> CorsOrigins { get; set; } = [];
}

/// <summary>
/// Counts 401 answers per client address; an address over the limit gets 429 with
/// <c>retry-after</c> before its key is even looked at, so keys cannot be guessed at speed.
/// </summary>
public sealed class FailedAuthLimiter(RequestDelegate next, IOptionsMonitor<SecurityOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<IPAddress, Window> _failures = new();

    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var address = context.Connection.RemoteIpAddress ?? IPAddress.None;
        var settings = options.CurrentValue;
        var now = time.GetUtcNow();
        if (_failures.TryGetValue(address, out var window) && window.IsBlocked(now, settings))
        {
            await RefuseAsync(context, Math.Max(1, (int)Math.Ceiling((window.Start + settings.FailureWindow - now).TotalSeconds)));
            return;
        }

        await next(context);
        if (context.Response.StatusCode == StatusCodes.Status401Unauthorized)
        {
            _failures.AddOrUpdate(address, _ => new Window(now, 1), (_, current) => current.Add(now, settings.FailureWindow));
            if (_failures.Count > 100_000)
            {
                // Forget stale windows rather than grow without bound under a spray of addresses.
                foreach (var stale in _failures.Where(f => f.Value.Start + settings.FailureWindow < now).Select(f => f.Key).ToList())
                {
                    _failures.TryRemove(stale, out _);
                }
            }
        }
    }

    private static Task RefuseAsync(HttpContext context, int retryAfter)
    {
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        const string message = "Too many failed authentications from this address; try again later.";
        if (context.Request.Path.StartsWithSegments("/admin"))
        {
            return Results.Problem(message, statusCode: 429).ExecuteAsync(context);
        }

        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { error = new { message, type = "rate_limit_error", param = (string?)null, code = "too_many_failed_authentications" } }));
    }

    private sealed record Window(DateTimeOffset Start, int Failures)
    {
        public bool IsBlocked(DateTimeOffset now, SecurityOptions settings) => now < Start + settings.FailureWindow && Failures >= settings.MaxFailedAuthentications;

        public Window Add(DateTimeOffset now, TimeSpan length) => now >= Start + length ? new Window(now, 1) : this with { Failures = Failures + 1 };
    }
}
