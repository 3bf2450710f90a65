using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Images;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.Testing.Fakes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.Images;

/// <summary>The pre-pass that turns image URLs into data URLs for wires that need inline images.</summary>
public sealed class ImageInlinerTests
{
    private static ImageInliner CreateSut(ImageFetchOptions? options = null)
    {
        options ??= new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true };
        return new ImageInliner(new ImageFetcher(options, TimeProvider.System, NullLogger.Instance, isRefused: null), Options.Create(options));
    }

    private static ChatCompletionRequest Request(params ChatMessage[] messages) => new() { Model = "m", Messages = [.. messages] };

    private static ChatMessage Message(string role, params object[] parts) => new() { Role = role, Content = JsonSerializer.SerializeToElement(parts) };

    private static object Image(string url) => new { type = "image_url", image_url = new { url, detail = "high" } };

    private static string UrlOf(ChatCompletionRequest request, int message, int part)
    {
        var image = request.Messages![message].Content!.Value[part].GetProperty("image_url");
        return image.ValueKind == JsonValueKind.String ? image.GetString()! : image.GetProperty("url").GetString()!;
    }

    [Fact]
    public async Task InlineAsync_SameUrlTwice_FetchesItOnceAndInlinesBoth()
    {
        await using var server = await FakeImageServer.StartAsync();
        var url = server.Url("/image.png");
        var request = Request(Message("user", new { type = "text", text = "compare" }, Image(url)), Message("user", Image(url)));

        var inlined = await CreateSut().InlineAsync(request, new OllamaWire(), CancellationToken.None);

        var expected = "data:image/png;base64," + Convert.ToBase64String(FakeImageServer.Png);
        Assert.Equal(expected, UrlOf(inlined, 0, 1));
        Assert.Equal(expected, UrlOf(inlined, 1, 0));
        Assert.Equal("high", inlined.Messages![0].Content!.Value[1].GetProperty("image_url").GetProperty("detail").GetString());
        Assert.Equal(1, server.Hits["/image.png"]);
        Assert.Equal(url, UrlOf(request, 0, 1));
    }

    [Fact]
    public async Task InlineAsync_ImageUrlAsAString_IsInlined()
    {
        await using var server = await FakeImageServer.StartAsync();
        var request = Request(Message("user", new { type = "image_url", image_url = server.Url("/image.png") }));

        var inlined = await CreateSut().InlineAsync(request, new OllamaWire(), CancellationToken.None);

        Assert.StartsWith("data:image/png;base64,", UrlOf(inlined, 0, 0), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InlineAsync_NothingToFetch_ReturnsTheSameRequest()
    {
        var request = Request(Message("user", new { type = "text", text = "hi" }, Image("data:image/png;base64,iVBORw0KGgo=")));

        var inlined = await CreateSut().InlineAsync(request, new OllamaWire(), CancellationToken.None);

        Assert.Same(request, inlined);
    }

    [Fact]
    public async Task InlineAsync_MoreImagesThanTheLimit_IsRefusedNamingTheFirstOverIt()
    {
        await using var server = await FakeImageServer.StartAsync();
        var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"], AllowPrivateNetworks = true, MaxImagesPerRequest = 2 });
        var request = Request(Message("user", Image(server.Url("/image.png?1")), Image(server.Url("/image.png?2")), Image(server.Url("/image.png?3"))));

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.InlineAsync(request, new OllamaWire(), CancellationToken.None));

        Assert.Equal("messages[0].content[2]", refused.Param);
        Assert.Equal(0, server.TotalHits);
    }

    [Fact]
    public async Task InlineAsync_Disabled_LeavesUrlsForTheWireToRefuse()
    {
        await using var server = await FakeImageServer.StartAsync();
        var request = Request(Message("user", Image(server.Url("/image.png"))));

        var inlined = await CreateSut(new ImageFetchOptions { Enabled = false, AllowedSchemes = ["http"], AllowPrivateNetworks = true })
            .InlineAsync(request, new OllamaWire(), CancellationToken.None);

        Assert.Same(request, inlined);
        Assert.Equal(0, server.TotalHits);
    }

    [Fact]
    public async Task InlineAsync_RefusedUrl_NamesItsContentPart()
    {
        await using var server = await FakeImageServer.StartAsync();
        var sut = CreateSut(new ImageFetchOptions { AllowedSchemes = ["http"] });
        var request = Request(Message("system", new { type = "text", text = "be brief" }), Message("user", new { type = "text", text = "what" }, Image(server.Url("/image.png"))));

        var refused = await Assert.ThrowsAsync<ImageFetchException>(() => sut.InlineAsync(request, new OllamaWire(), CancellationToken.None));

        Assert.Equal(ImageFetchException.Refused, refused.Code);
        Assert.Equal("messages[1].content[1]", refused.Param);
        Assert.Equal(0, server.TotalHits);
    }

    [Theory]
    [InlineData("user", "https://images.example.com/a.png", true)]
    [InlineData("assistant", "https://images.example.com/a.png", true)]
    [InlineData("system", "https://images.example.com/a.png", false)]
    [InlineData("user", "https://generativelanguage.googleapis.com/v1beta/files/abc123", false)]
    public void MustInline_Gemini_AllButFilesApiUris(string role, string url, bool expected) =>
        Assert.Equal(expected, new GeminiWire().MustInline(role, new Uri(url)));

    [Theory]
    [InlineData("user", true)]
    [InlineData("assistant", false)]
    [InlineData("system", false)]
    public void MustInline_Ollama_UserImages(string role, bool expected) =>
        Assert.Equal(expected, new OllamaWire().MustInline(role, new Uri("https://images.example.com/a.png")));
}
