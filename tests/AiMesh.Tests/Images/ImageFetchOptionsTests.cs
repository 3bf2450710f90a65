using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Images;
using AiMesh.Testing;
using AiMesh.Validation;
using FluentValidation.TestHelper;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.Images;

/// <summary>The image-fetch settings at start-up, and the validation service's early check of image URL schemes.</summary>
public sealed class ImageFetchOptionsTests
{
    [Fact]
    public void Validate_Defaults_AreValidAndSecure()
    {
        var options = new ImageFetchOptions();

        Assert.True(new ImageFetchOptionsValidator().Validate(null, options).Succeeded);
        Assert.True(options.Enabled);
        Assert.False(options.AllowPrivateNetworks);
        Assert.Equal(["https"], options.EffectiveSchemes);
        Assert.Equal(20 * 1024 * 1024, options.MaxBytes);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Timeout);
        Assert.Equal(["image/png", "image/jpeg", "image/gif", "image/webp"], options.EffectiveContentTypes);
    }

    [Fact]
    public void Validate_EveryBadSetting_IsNamed()
    {
        var options = new ImageFetchOptions
        {
            AllowedSchemes = ["https", "file"],
            MaxBytes = 0,
            Timeout = TimeSpan.Zero,
            MaxRedirects = 11,
            MaxImagesPerRequest = 0,
            AllowedContentTypes = ["text/html"],
            AllowedHosts = ["https://images.example.com/"],
            BlockedHosts = ["*"],
        };

        var result = new ImageFetchOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = string.Join("\n", result.Failures!);
        foreach (var setting in new[]
        {
            "AiMesh:ImageFetch:AllowedSchemes:1", "AiMesh:ImageFetch:MaxBytes", "AiMesh:ImageFetch:Timeout", "AiMesh:ImageFetch:MaxRedirects",
            "AiMesh:ImageFetch:MaxImagesPerRequest", "AiMesh:ImageFetch:AllowedContentTypes:0", "AiMesh:ImageFetch:AllowedHosts:0", "AiMesh:ImageFetch:BlockedHosts:0",
        })
        {
            Assert.Contains(setting, failures, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("AllowedSchemes:0", failures, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithInvalidImageFetchSetting_FailsNamingIt()
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => EmbeddedGateway.StartAsync(new Dictionary<string, string?>
        {
            ["OLLAMA_HOST"] = "http://127.0.0.1:1",
            ["AiMesh:ImageFetch:AllowedSchemes:0"] = "gopher",
        }));

        Assert.Contains("AiMesh:ImageFetch:AllowedSchemes:0", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://example.com/a.png")]
    [InlineData("gopher://127.0.0.1:6379/_INFO")]
    [InlineData("dict://127.0.0.1:11211/stats")]
    [InlineData("//example.com/a.png")]
    [InlineData("a.png")]
    public void Validator_ImageUrlWithOtherScheme_Fails(string url)
    {
        var result = new ChatCompletionRequestValidator(new ValidationLimits()).TestValidate(WithImage(url));

        var error = Assert.Single(result.Errors);
        Assert.Contains("'image_url.url'", error.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://example.com/a.png")]
    [InlineData("http://example.com/a.png")]
    [InlineData("data:image/png;base64,iVBORw0KGgo=")]
    public void Validator_ImageUrlHttpOrData_Passes(string url) =>
        new ChatCompletionRequestValidator(new ValidationLimits()).TestValidate(WithImage(url)).ShouldNotHaveAnyValidationErrors();

    private static ChatCompletionRequest WithImage(string url) => new()
    {
        Model = "m",
        Messages =
        [
            new ChatMessage
            {
                Role = "user",
                Content = JsonSerializer.SerializeToElement(new object[] { new { type = "text", text = "what is this" }, new { type = "image_url", image_url = new { url } } }),
            },
        ],
    };
}
