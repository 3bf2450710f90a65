using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiMesh.Testing.Fakes;

/// <summary>
/// An image host on a loopback address (a real socket) that counts every request per path, for SSRF tests:
/// <c>/image.png</c> (a PNG), <c>/page.html</c> (text/html), <c>/big.png</c> (<see cref="BigBytes"/> of
/// image/png streamed without Content-Length), <c>/declared-big.png</c> (a Content-Length over any limit),
/// <c>/slow.png</c> (one byte every 200 ms, forever), <c>/missing.png</c> (404),
/// <c>/redirect?to=URL</c> (302 to URL) and <c>/chain/N</c> (N redirects, then the PNG).
/// </summary>
public sealed class FakeImageServer : IAsyncDisposable
{
    /// <summary>A 1×1 PNG.</summary>
    public static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==");

    public const long BigBytes = 64L * 1024 * 1024;

    private readonly WebApplication _app;
    private readonly TaskCompletionSource<long> _bigEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TcpListener _bigListener;
    private Task _bigServing = Task.CompletedTask;

    private FakeImageServer(WebApplication app, TcpListener bigListener)
    {
        _app = app;
        _bigListener = bigListener;
    }

    /// <summary>e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string BaseUrl { get; private set; } = string.Empty;

    public int Port => new Uri(BaseUrl).Port;

    /// <summary><c>/big.png</c>, served from its own port (see <see cref="ServeBigAsync"/>).</summary>
    public string BigUrl { get; private set; } = string.Empty;

    /// <summary>Requests received, by path.</summary>
    public ConcurrentDictionary<string, int> Hits { get; } = new(StringComparer.Ordinal);

    public int TotalHits => Hits.Values.Sum();

    /// <summary>Whether <c>/big.png</c> was sent to the end (false: the client hung up first).</summary>
    public bool BigCompleted { get; private set; }

    /// <summary>Completes with the bytes of <c>/big.png</c> written when its handler ends (completed or cut off).</summary>
    public Task<long> BigEnded => _bigEnded.Task;

    public static async Task<FakeImageServer> StartAsync(string address = "127.0.0.1")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{address}:0");
        var app = builder.Build();
        var bigListener = new TcpListener(IPAddress.Parse(address), 0);
        var server = new FakeImageServer(app, bigListener);
        app.Use(async (context, next) =>
        {
            server.Hits.AddOrUpdate(context.Request.Path.Value ?? "/", 1, (_, n) => n + 1);
            await next(context);
        });
        app.MapGet("/image.png", () => Results.Bytes(Png, "image/png"));
        app.MapGet("/page.html", () => Results.Content("<html><body>not an image</body></html>", "text/html"));
        app.MapGet("/missing.png", () => Results.NotFound());
        app.MapGet("/redirect", (string to) => Results.Redirect(to));
        app.MapGet("/chain/{n:int}", (int n) => n <= 0 ? Results.Bytes(Png, "image/png") : Results.Redirect($"/chain/{n - 1}"));
        app.MapGet("/declared-big.png", async context =>
        {
            context.Response.ContentType = "image/png";
            context.Response.ContentLength = BigBytes;
            try
            {
                await context.Response.Body.WriteAsync(Png, context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The client hung up, as it should on seeing the length.
            }

            context.Abort();
        });
        app.MapGet("/slow.png", async context =>
        {
            context.Response.ContentType = "image/png";
            try
            {
                for (var i = 0; i < 600; i++)
                {
                    await context.Response.Body.WriteAsync(Png.AsMemory(0, 1), context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    await Task.Delay(200, context.RequestAborted);
                }
            }
            catch (OperationCanceledException)
            {
                // The client gave up.
            }
        });
        await app.StartAsync();
        bigListener.Start();
        server._bigServing = server.ServeBigAsync();
        server.BigUrl = $"http://{address}:{((IPEndPoint)bigListener.LocalEndpoint).Port}/big.png";
        server.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return server;
    }

    public string Url(string pathAndQuery) => BaseUrl + pathAndQuery;

    /// <summary>
    /// <c>/big.png</c> on a raw socket (Kestrel treats writes after the client hung up as no-ops, so it could not tell
    /// a cut-off download from a finished one): no Content-Length, the body runs until the connection closes, and every
    /// send the client did not take fails.
    /// </summary>
    private async Task ServeBigAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _bigListener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            using (client)
            {
                var written = 0L;
                try
                {
                    var request = new byte[8192];
                    var length = 0;
                    while (length < request.Length && !Encoding.ASCII.GetString(request, 0, length).Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var read = await client.ReceiveAsync(request.AsMemory(length), _stopping.Token);
                        if (read == 0)
                        {
                            break;
                        }

                        length += read;
                    }

                    var path = Encoding.ASCII.GetString(request, 0, length).Split(' ') is { Length: > 1 } line ? line[1] : "/";
                    Hits.AddOrUpdate(path, 1, (_, n) => n + 1);
                    await client.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n"), _stopping.Token);
                    var chunk = new byte[64 * 1024];
                    while (written < BigBytes)
                    {
                        written += await client.SendAsync(chunk, _stopping.Token);
                    }

                    BigCompleted = true;
                }
                catch (Exception exception) when (exception is OperationCanceledException or SocketException or IOException)
                {
                    // The client hung up: what the size limit should make it do.
                }
                finally
                {
                    _bigEnded.TrySetResult(written);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _bigListener.Stop();
        await _bigServing;
        _stopping.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
