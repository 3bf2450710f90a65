using System.Net;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.ProviderAdapter.Resilience;

namespace AiMesh.Tests.ProviderAdapter;

public sealed class FailureClassifierTests
{
    [Theory]
    [InlineData(408, ProviderFailureKind.Transient)]
    [InlineData(429, ProviderFailureKind.Transient)]
    [InlineData(500, ProviderFailureKind.Transient)]
    [InlineData(502, ProviderFailureKind.Transient)]
    [InlineData(503, ProviderFailureKind.Transient)]
    [InlineData(504, ProviderFailureKind.Transient)]
    [InlineData(529, ProviderFailureKind.Transient)]
    [InlineData(400, ProviderFailureKind.Permanent)]
    [InlineData(401, ProviderFailureKind.Permanent)]
    [InlineData(403, ProviderFailureKind.Permanent)]
    [InlineData(404, ProviderFailureKind.Permanent)]
    [InlineData(422, ProviderFailureKind.Permanent)]
    [InlineData(200, ProviderFailureKind.None)]
    public void Classify_Status_GivesKind(int status, ProviderFailureKind expected) =>
        Assert.Equal(expected, FailureClassifier.Classify((HttpStatusCode)status));

    [Theory]
    [InlineData(101, true)]
    [InlineData(301, true)]
    [InlineData(302, true)]
    [InlineData(304, true)]
    [InlineData(307, true)]
    [InlineData(308, true)]
    [InlineData(200, false)]
    [InlineData(204, false)]
    [InlineData(400, false)]
    [InlineData(503, false)]
    public void IsUnexpected_RedirectsAndInformationalStatuses(int status, bool expected) =>
        Assert.Equal(expected, FailureClassifier.IsUnexpected((HttpStatusCode)status));

    [Fact]
    public void RetryAfterSeconds_ReadsDeltaDateAndMilliseconds()
    {
        var now = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
        using var delta = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        delta.Headers.TryAddWithoutValidation("Retry-After", "7");
        using var date = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        date.Headers.TryAddWithoutValidation("Retry-After", now.AddSeconds(30).ToString("R"));
        using var ms = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        ms.Headers.TryAddWithoutValidation("retry-after-ms", "1500");
        using var none = new HttpResponseMessage(HttpStatusCode.TooManyRequests);

        Assert.Equal(7, FailureClassifier.RetryAfterSeconds(delta, now));
        Assert.Equal(30, FailureClassifier.RetryAfterSeconds(date, now));
        Assert.Equal(1.5, FailureClassifier.RetryAfterSeconds(ms, now));
        Assert.Null(FailureClassifier.RetryAfterSeconds(none, now));
    }

    [Theory]
    [InlineData("Incorrect API key provided: sk-proj-abcdefghijklmnop.", "sk-proj-***")]
    [InlineData("bad key sk-ant-api03-ZZZZZZZZZZZZ here", "sk-ant-***")]
    [InlineData("Authorization: Bearer abcdefghijkl", "Bearer ***")]
    [InlineData("key=AIzaSyD-1234567890abcdef", "AIza***")]
    public void Scrub_RemovesKeyLikeStrings(string text, string expected)
    {
        var scrubbed = CredentialScrubber.Scrub(text, apiKey: null);

        Assert.Contains(expected, scrubbed, StringComparison.Ordinal);
        Assert.DoesNotContain("abcdefghijk", scrubbed, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrub_RemovesTheConfiguredKeyWhateverItsShape()
    {
        Assert.Equal("your key *** is wrong", CredentialScrubber.Scrub("your key plain-key-123 is wrong", "plain-key-123"));
    }

    [Fact]
    public void ReadError_NonJsonBody_GivesAGenericMessage()
    {
        var error = OpenAiWire.ReadError("<html>502 Bad Gateway</html>", 502, null);

        Assert.Equal("The provider answered HTTP 502.", error.Message);
        Assert.Equal("api_error", error.Type);
    }
}
