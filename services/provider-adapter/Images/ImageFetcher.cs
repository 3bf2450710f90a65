using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace AiMesh.ProviderAdapter.Images;

/// <summary>An image fetched for inlining.</summary>
public sealed record FetchedImage(string MediaType, byte[] Bytes)
{
    public string ToDataUrl() => $"data:{MediaType};base64,{Convert.ToBase64String(Bytes)}";
}

/// <summary>
/// Fetches a caller's image URL without letting the caller reach into the gateway's network (SSRF).
/// The connection is made by <see cref="ConnectAsync"/>: it resolves the host itself, refuses it when
/// ANY of its addresses is not public (<see cref="ImageAddressPolicy"/>), and connects to one of the
/// addresses it checked, so a second DNS answer cannot swap in another (no re-resolution). No proxy.
/// Redirects are followed by hand, each target checked like the first URL (scheme, host lists, and the
/// connection check for a new host). Size, time and media type are limited; the size is counted while
/// reading, and the connection is dropped at the limit rather than drained.
/// </summary>
public sealed partial class ImageFetcher : IDisposable
{
    private readonly ImageFetchOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<IPAddress, bool> _isRefused;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;
    private readonly HttpClient _client;

    public ImageFetcher(IOptions<ImageFetchOptions> options, TimeProvider time, ILogger<ImageFetcher> logger)
        : this(options?.Value!, time, logger, isRefused: null)
    {
    }

    /// <param name="options">The settings.</param>
    /// <param name="time">The clock of the timeout.</param>
    /// <param name="logger">Where fetches are logged (never the URL).</param>
    /// <param name="isRefused">The address check (tests replace it to pretend a loopback server is public).</param>
    /// <param name="resolve">The DNS lookup (tests replace it to give a name the addresses they need).</param>
    internal ImageFetcher(ImageFetchOptions options, TimeProvider time, ILogger logger, Func<IPAddress, bool>? isRefused,
        Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options;
        _time = time;
        _logger = logger;
        _isRefused = options.AllowPrivateNetworks ? _ => false : isRefused ?? ImageAddressPolicy.IsRefused;
        _resolve = resolve ?? Dns.GetHostAddressesAsync;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            Credentials = null,
            AutomaticDecompression = DecompressionMethods.None,
            MaxResponseDrainSize = 0,
            MaxResponseHeadersLength = 64,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = ConnectAsync,
        };
        _client = new HttpClient(handler)
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            MaxResponseContentBufferSize = options.MaxBytes,
        };
    }

    /// <summary>Fetches the image at <paramref name="url"/>.</summary>
    /// <exception cref="ImageFetchException">The URL is refused, or did not answer with an allowed image within the limits.</exception>
    public async Task<FetchedImage> FetchAsync(Uri url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        using var deadline = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var token = linked.Token;
        var current = url;
        try
        {
            for (var redirects = 0; ; redirects++)
            {
                CheckUrl(current);
                using var request = new HttpRequestMessage(HttpMethod.Get, current)
                {
                    Version = HttpVersion.Version11,
                    VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
                };
                foreach (var type in _options.EffectiveContentTypes)
                {
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
                }

                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
                if (IsRedirect(response.StatusCode))
                {
                    if (redirects >= _options.MaxRedirects)
                    {
                        throw new ImageFetchException(ImageFetchException.Refused, $"The image URL was refused: it redirects more than {_options.MaxRedirects} times.");
                    }

                    if (response.Headers.Location is not { } location)
                    {
                        throw new ImageFetchException(ImageFetchException.Failed, "The image URL could not be fetched: it redirects without a location.");
                    }

                    current = new Uri(current, location);
                    continue;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw new ImageFetchException(ImageFetchException.Failed,
                        $"The image URL could not be fetched: it answered HTTP {((int)response.StatusCode).ToString(CultureInfo.InvariantCulture)}.");
                }

                var mediaType = response.Content.Headers.ContentType?.MediaType?.ToLowerInvariant();
                if (mediaType is null || !_options.EffectiveContentTypes.Contains(mediaType, StringComparer.OrdinalIgnoreCase))
                {
                    throw new ImageFetchException(ImageFetchException.UnsupportedType,
                        $"The image URL answered with {(mediaType is null ? "no media type" : $"media type '{mediaType}'")}; allowed: {string.Join(", ", _options.EffectiveContentTypes)}.");
                }

                if (response.Content.Headers.ContentLength > _options.MaxBytes)
                {
                    throw TooLarge();
                }

                var bytes = await ReadCappedAsync(response, token);
                LogFetched(bytes.Length, redirects);
                return new FetchedImage(mediaType, bytes);
            }
        }
        catch (HttpRequestException exception) when (Refusal(exception) is { } refusal)
        {
            throw refusal;
        }
        catch (Exception exception) when (exception is OperationCanceledException or HttpRequestException or IOException
            && deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ImageFetchException(ImageFetchException.TimedOut,
                $"The image URL was not fetched within the time limit of {_options.Timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s.");
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException or SocketException)
        {
            var failure = exception.GetType().Name;
            LogFetchFailed(failure);

            throw new ImageFetchException(ImageFetchException.Failed, "The image URL could not be fetched.");
        }
    }

    /// <summary>The scheme and host lists; the addresses are checked when connecting.</summary>
    private void CheckUrl(Uri url)
    {
        if (!url.IsAbsoluteUri || !_options.EffectiveSchemes.Contains(url.Scheme, StringComparer.OrdinalIgnoreCase))
        {
            throw new ImageFetchException(ImageFetchException.Refused,
                $"The image URL was refused: only {string.Join(" and ", _options.EffectiveSchemes)} URLs are fetched.");
        }

        var host = url.IdnHost.TrimEnd('.');
        if (Matches(_options.BlockedHosts, host) || (_options.AllowedHosts.Count > 0 && !Matches(_options.AllowedHosts, host)))
        {
            throw new ImageFetchException(ImageFetchException.Refused, "The image URL was refused: its host is not allowed by the gateway's policy.");
        }
    }

    private static bool Matches(List<string> patterns, string host) => patterns.Any(pattern =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(pattern[1..].TrimEnd('.'), StringComparison.OrdinalIgnoreCase)
            : string.Equals(host, pattern.TrimEnd('.').Trim('[', ']'), StringComparison.OrdinalIgnoreCase)
              || (IPAddress.TryParse(host.Trim('[', ']'), out var a) && IPAddress.TryParse(pattern.Trim('[', ']'), out var b) && a.Equals(b)));

    /// <summary>
    /// Every new connection: resolve, refuse the host if any address is not public, connect to a checked address.
    /// </summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var host = endpoint.Host.Trim('[', ']').TrimEnd('.');
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await _resolve(host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound);
        }

        if (addresses.Any(_isRefused))
        {
            LogRefusedAddress();
            throw new ImageFetchException(ImageFetchException.Refused,
                "The image URL was refused: its host resolves to a private or reserved address.");
        }

        SocketException? last = null;
        foreach (var address in addresses)
        {
            var target = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(target, endpoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException exception)
            {
                socket.Dispose();
                last = exception;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last!;
    }

    private async Task<byte[]> ReadCappedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var image = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                if (image.Length + read > _options.MaxBytes)
                {
                    // Disposing the unread response aborts the connection (MaxResponseDrainSize = 0).
                    throw TooLarge();
                }

                image.Write(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return image.ToArray();
    }

    private ImageFetchException TooLarge() => new(ImageFetchException.TooLarge,
        $"The image is larger than the limit of {_options.MaxBytes.ToString(CultureInfo.InvariantCulture)} bytes.");

    private static ImageFetchException? Refusal(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is ImageFetchException refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    public void Dispose() => _client.Dispose();

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Image fetched for inlining ({Bytes} bytes, {Redirects} redirects)")]
    private partial void LogFetched(int bytes, int redirects);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Image URL refused: its host resolves to a private or reserved address")]
    private partial void LogRefusedAddress();

    [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "Image URL could not be fetched ({Failure})")]
    private partial void LogFetchFailed(string failure);
}
