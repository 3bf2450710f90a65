using System.Diagnostics;
using System.Net;
using AiMesh.ProviderAdapter.Images;
using AiMesh.Testing.Fakes;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiMesh.Tests.Images;

/// <summary><see cref="ImageFetcher"/> against a real image server on loopback.</summary>
public sealed class ImageFetcherTests
{
    private static ImageFetcher CreateSut(ImageFetchOptions options, Func<IPAddress, bool>? isRefused = null) =>
        new(options, TimeProvider.System, NullLogger.Instance, isRefused);

    /// <summary>http allowed, so that only the address check stands between the caller and the loopback server.</summary>
    private static ImageFetchOptions HttpAllowed() => new() { AllowedSchemes = ["http", "https"] };

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    [InlineData("LocalHost.")]
    [InlineData("2130706433")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("017700000001")]
    [InlineData("127.1")]
    [InlineData("0.0.0.0")]
    [InlineData("0")]
    [InlineData("[::1]")]
    [InlineData("[::ffff:127.0.0.1]")]
    [InlineData("[::ffff:7f00:1]")]
    public async Task FetchAsync_LoopbackInAnySpelling_IsRefusedAndTheServerNeverHit(string host)
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(HttpAllowed());

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri($"http://{host}:{server.Port}/image.png"), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.Contains("private or reserved address", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("127.", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.TotalHits);
    }

    /// <summary>One refused address among the answers is enough: the test pretends 127.0.0.1 is public.</summary>
    [Fact]
    public async Task FetchAsync_HostWithOneReservedAddressAmongPublicOnes_IsRefused()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = new ImageFetcher(HttpAllowed(), TimeProvider.System, NullLogger.Instance,
            isRefused: a => !a.Equals(IPAddress.Loopback) && ImageAddressPolicy.IsRefused(a),
            resolve: (_, _) => Task.FromResult(new[] { IPAddress.Loopback, IPAddress.Parse("169.254.169.254") }));

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri($"http://images.test:{server.Port}/image.png"), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.DoesNotContain("169.254", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.TotalHits);
    }

    /// <summary>The name is looked up once, and the connection goes to the address that was checked (the name exists nowhere else).</summary>
    [Fact]
    public async Task FetchAsync_ConnectsToTheAddressItChecked()
    {
        await using var server = await FakeImageServer.StartAsync();
        var lookups = new List<string>();
        using var sut = new ImageFetcher(HttpAllowed(), TimeProvider.System, NullLogger.Instance,
            isRefused: a => !a.Equals(IPAddress.Loopback) && ImageAddressPolicy.IsRefused(a),
            resolve: (host, _) =>
            {
                lookups.Add(host);
                return Task.FromResult(new[] { IPAddress.Loopback });
            });

        var image = await sut.FetchAsync(new Uri($"http://images.test:{server.Port}/image.png"), CancellationToken.None);

        Assert.Equal(FakeImageServer.Png, image.Bytes);
        Assert.Equal(["images.test"], lookups);
        Assert.Equal(1, server.Hits["/image.png"]);
    }

    [Fact]
    public async Task FetchAsync_PrivateNetworksAllowed_ReturnsTheImage()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true });

        var image = await sut.FetchAsync(new Uri(server.Url("/image.png")), CancellationToken.None);

        Assert.Equal("image/png", image.MediaType);
        Assert.Equal(FakeImageServer.Png, image.Bytes);
        Assert.Equal(1, server.Hits["/image.png"]);
    }

    [Fact]
    public async Task FetchAsync_HttpUnderDefaultSchemes_IsRefusedWithoutConnecting()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowPrivateNetworks = true });

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri(server.Url("/image.png")), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.Contains("https", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.TotalHits);
    }

    /// <summary>
    /// The first host passes the address check (the test pretends 127.0.0.1 is public); its redirect points at a
    /// server on 127.0.0.2, which the check refuses: that server is never reached. The control test below shows it
    /// would have been.
    /// </summary>
    [Fact]
    public async Task FetchAsync_RedirectToARefusedAddress_IsRefusedAndTheTargetNeverHit()
    {
        await using var front = await FakeImageServer.StartAsync("127.0.0.1");
        await using var inside = await FakeImageServer.StartAsync("127.0.0.2");
        using var sut = CreateSut(HttpAllowed(), isRefused: a => !a.Equals(IPAddress.Loopback) && ImageAddressPolicy.IsRefused(a));

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() =>
            sut.FetchAsync(new Uri(front.Url("/redirect?to=" + Uri.EscapeDataString(inside.Url("/image.png")))), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.Equal(1, front.Hits["/redirect"]);
        Assert.Equal(0, inside.TotalHits);
    }

    [Fact]
    public async Task FetchAsync_RedirectToAnotherAllowedServer_IsFollowed()
    {
        await using var front = await FakeImageServer.StartAsync("127.0.0.1");
        await using var inside = await FakeImageServer.StartAsync("127.0.0.2");
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true });

        var image = await sut.FetchAsync(new Uri(front.Url("/redirect?to=" + Uri.EscapeDataString(inside.Url("/image.png")))), CancellationToken.None);

        Assert.Equal(FakeImageServer.Png, image.Bytes);
        Assert.Equal(1, inside.Hits["/image.png"]);
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://127.0.0.1/image.png")]
    [InlineData("gopher://127.0.0.1:6379/_INFO")]
    public async Task FetchAsync_RedirectToAnotherScheme_IsRefused(string target)
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true });

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() =>
            sut.FetchAsync(new Uri(server.Url("/redirect?to=" + Uri.EscapeDataString(target))), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.Equal(1, server.TotalHits);
    }

    [Fact]
    public async Task FetchAsync_RedirectToABlockedHost_IsRefusedAndTheTargetNeverHit()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true, BlockedHosts = ["localhost"] });

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() =>
            sut.FetchAsync(new Uri(server.Url("/redirect?to=" + Uri.EscapeDataString($"http://localhost:{server.Port}/image.png"))), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.Equal(1, server.Hits["/redirect"]);
        Assert.False(server.Hits.ContainsKey("/image.png"));
    }

    [Fact]
    public async Task FetchAsync_HostNotInAllowedHosts_IsRefused()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true, AllowedHosts = ["*.example.com"] });

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri(server.Url("/image.png")), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.Equal(0, server.TotalHits);
    }

    [Theory]
    [InlineData(3, true)]
    [InlineData(4, false)]
    public async Task FetchAsync_RedirectChain_FollowsAtMostMaxRedirects(int redirects, bool fetched)
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true, MaxRedirects = 3 });
        var url = new Uri(server.Url($"/chain/{redirects}"));

        if (fetched)
        {
            Assert.Equal(FakeImageServer.Png, (await sut.FetchAsync(url, CancellationToken.None)).Bytes);
        }
        else
        {
            var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(url, CancellationToken.None));
            Assert.Equal(ImageFetchException.Refused, refused.Code);
            Assert.Contains("redirects more than 3 times", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(Math.Min(redirects, 3) + 1, server.TotalHits);
    }

    [Fact]
    public async Task FetchAsync_BodyOverMaxBytesWithoutContentLength_IsCutOff()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true, MaxBytes = 256 * 1024 });

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri(server.BigUrl), CancellationToken.None));

        Assert.Equal(ImageFetchException.TooLarge, refused.Code);
        Assert.Contains("262144 bytes", refused.Message, StringComparison.Ordinal);
        var written = await server.BigEnded.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.False(server.BigCompleted);
        Assert.True(written < FakeImageServer.BigBytes / 2, $"the server wrote {written} bytes before the fetch hung up");
    }

    [Fact]
    public async Task FetchAsync_DeclaredContentLengthOverMaxBytes_IsRefusedBeforeReading()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true, MaxBytes = 1024 });

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri(server.Url("/declared-big.png")), CancellationToken.None));

        Assert.Equal(ImageFetchException.TooLarge, refused.Code);
    }

    [Fact]
    public async Task FetchAsync_HtmlPage_IsRefusedNamingTheMediaType()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true });

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri(server.Url("/page.html")), CancellationToken.None));

        Assert.Equal(ImageFetchException.UnsupportedType, refused.Code);
        Assert.Contains("text/html", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchAsync_TrickleBeyondTimeout_TimesOutWithoutHanging()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true, Timeout = TimeSpan.FromSeconds(1) });
        var started = Stopwatch.StartNew();

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri(server.Url("/slow.png")), CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ImageFetchException.TimedOut, refused.Code);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task FetchAsync_NotFound_FailsWithTheStatus()
    {
        await using var server = await FakeImageServer.StartAsync();
        using var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true });

        var failed = await Assert.ThrowsAsync<ImageFetchException>(() => sut.FetchAsync(new Uri(server.Url("/missing.png")), CancellationToken.None));

        Assert.Equal(ImageFetchException.Failed, failed.Code);
        Assert.Contains("404", failed.Message, StringComparison.Ordinal);
    }
}
