using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AiMesh.Router.Security;

/// <summary>Hardening of the public surface: limits, security headers, CORS only when configured, failed-auth limits.</summary>
public static class RouterProtection
{
    /// <summary>Body limit for every endpoint; the chat endpoints have their own, lower one.</summary>
    public const long MaxBodyBytes = 16 * 1024 * 1024;

    public static IHostApplicationBuilder AddRouterProtection(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.Section)
            .Validate(o => o.MaxFailedAuthentications > 0 && o.FailureWindow > TimeSpan.Zero, $"{SecurityOptions.Section}: MaxFailedAuthentications and FailureWindow must be positive.")
            .Validate(o => o.CorsOrigins.All(origin => Uri.TryCreate(origin, UriKind.Absolute, out _)), $"{SecurityOptions.Section}:CorsOrigins must be absolute origins such as https://app.example.com.")
            .ValidateOnStart();
        builder.Services.Configure<KestrelServerOptions>(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 100;
            kestrel.Limits.MaxRequestLineSize = 8 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
        });
        var origins = builder.Configuration.GetSection($"{SecurityOptions.Section}:CorsOrigins").Get<string[]>() ?? [];
        if (origins.Length > 0)
        {
            builder.Services.AddCors(cors => cors.AddDefaultPolicy(policy => policy.WithOrigins(origins).AllowAnyHeader().WithMethods("GET", "POST", "PUT", "DELETE")));
        }

        return builder;
    }

    public static WebApplication UseRouterProtection(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers.ContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'";
            if (context.Request.Path.StartsWithSegments("/admin"))
            {
                headers.CacheControl = "no-store";
            }

            return next(context);
        });
        if (app.Services.GetService<Microsoft.AspNetCore.Cors.Infrastructure.ICorsService>() is not null)
        {
            app.UseCors();
        }

        app.UseMiddleware<FailedAuthLimiter>();
        return app;
    }
}
