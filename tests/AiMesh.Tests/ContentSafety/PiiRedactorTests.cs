using AiMesh.Validation.Content;

namespace AiMesh.Tests.ContentSafety;

public sealed class PiiRedactorTests
{
    private static (string Text, Dictionary<string, int> Counts) Redact(string text)
    {
        var counts = new Dictionary<string, int>();
        return (PiiRedactor.Redact(text, counts), counts);
    }

    [Theory]
    [InlineData("Mail jane.doe+news@example.co.uk today", "email")]
    [InlineData("Card 4111 1111 1111 1111 expires soon", "payment_card")]
    [InlineData("Card 4012-8888-8888-1881 please", "payment_card")]
    [InlineData("pay to DE89 3704 0044 0532 0130 00 now", "iban")]
    [InlineData("pay to GB82WEST12345698765432 now", "iban")]
    [InlineData("my SSN is 123-45-6789.", "national_id")]
    [InlineData("NI number AB 12 34 56 C here", "national_id")]
    [InlineData("call +44 20 7946 0958 tomorrow", "phone")]
    [InlineData("call (415) 555-0132 tomorrow", "phone")]
    [InlineData("call +14155550132 tomorrow", "phone")]
    [InlineData("key sk-proj-abcdefghijklmnopqrstuvwxyz012345 leaked", "api_key")]
    [InlineData("aws AKIAIOSFODNN7EXAMPLE here", "api_key")]
    [InlineData("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 here", "api_key")]
    [InlineData("Authorization: Bearer abcdefghijklmnopqrstuvwxyz.0123456789", "api_key")]
    [InlineData("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----", "private_key")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (cut off)", "private_key")]
    public void Redact_FindsEachKind_AndRemovesTheValue(string text, string kind)
    {
        var (redacted, counts) = Redact(text);

        Assert.Equal(1, counts[kind]);
        Assert.Single(counts);
        Assert.Contains($"[REDACTED:{kind}]", redacted, StringComparison.Ordinal);
        Assert.DoesNotContain("4111", redacted, StringComparison.Ordinal);
        Assert.DoesNotContain("MIIE", redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Card 4111 1111 1111 1112 fails Luhn")]
    [InlineData("IBAN DE89 3704 0044 0532 0130 02 has a bad check digit")]
    [InlineData("Meet on 2024-01-15 at 10:30")]
    [InlineData("Server 192.168.100.200 is up, version 10.0.100")]
    [InlineData("The answer is 42 and pi is 3.14159")]
    [InlineData("Plain prose about sk and keys without secrets.")]
    public void Redact_LeavesLookAlikes_AndReturnsTheSameInstance(string text)
    {
        var (redacted, counts) = Redact(text);

        Assert.Empty(counts);
        Assert.Same(text, redacted);
    }

    [Fact]
    public void Redact_NeverIssuedSsnArea_IsNotANationalId()
    {
        var (_, counts) = Redact("SSN-like 000-12-3456 is never issued");

        Assert.False(counts.ContainsKey("national_id"));
    }

    [Fact]
    public void Redact_CountsEveryOccurrence()
    {
        var (redacted, counts) = Redact("a@example.com, b@example.org and 4111111111111111, 5500 0000 0000 0004");

        Assert.Equal(2, counts["email"]);
        Assert.Equal(2, counts["payment_card"]);
        Assert.Equal("[REDACTED:email], [REDACTED:email] and [REDACTED:payment_card], [REDACTED:payment_card]", redacted);
    }

    [Theory]
    [InlineData("4111111111111111", true)]
    [InlineData("4111111111111112", false)]
    [InlineData("0000000000000000", false)]
    [InlineData("411111111111", false)]
    public void PassesLuhn(string number, bool expected) => Assert.Equal(expected, PiiRedactor.PassesLuhn(number));

    [Theory]
    [InlineData("DE89370400440532013000", true)]
    [InlineData("DE89370400440532013001", false)]
    [InlineData("FR1420041010050500013M02606", true)]
    public void IsValidIban(string iban, bool expected) => Assert.Equal(expected, PiiRedactor.IsValidIban(iban));
}
