using AiMesh.BuildingBlocks.Secrets;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.Tests.Catalog;

public sealed class KeyEncryptionTests
{
    public static readonly string KeyOne = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    public static readonly string KeyTwo = Convert.ToBase64String(Enumerable.Range(101, 32).Select(i => (byte)i).ToArray());

    private sealed class Secrets(Dictionary<string, string> values) : ISecretStore
    {
        public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken) => Task.FromResult(values.GetValueOrDefault(name));
    }

    private static KeyEncryption With(string? current, string? previous = null)
    {
        var values = new Dictionary<string, string>();
        if (current is not null)
        {
            values[SecretNames.EncryptionKey] = current;
        }

        if (previous is not null)
        {
            values[SecretNames.PreviousEncryptionKey] = previous;
        }

        return new KeyEncryption(new Secrets(values));
    }

    [Fact]
    public async Task RoundTrip_UsesAFreshNonceEachTime_AndNeverHoldsThePlaintext()
    {
        var sut = With(KeyOne);

        var first = await sut.EncryptAsync("sk-secret-provider-key", "dep-a", CancellationToken.None);
        var second = await sut.EncryptAsync("sk-secret-provider-key", "dep-a", CancellationToken.None);

        Assert.NotEqual(first, second);
        Assert.DoesNotContain("secret", first, StringComparison.Ordinal);
        Assert.StartsWith("v1:", first, StringComparison.Ordinal);
        Assert.Equal("sk-secret-provider-key", await sut.DecryptAsync(first, "dep-a", CancellationToken.None));
    }

    [Fact]
    public async Task CiphertextMovedToAnotherDeployment_OrTampered_IsRefused()
    {
        var sut = With(KeyOne);
        var token = await sut.EncryptAsync("sk-secret-provider-key", "dep-a", CancellationToken.None);
        var bytes = Convert.FromBase64String(token.Split(':')[2]);
        bytes[^1] ^= 1;
        var tampered = $"{string.Join(':', token.Split(':')[..2])}:{Convert.ToBase64String(bytes)}";

        await Assert.ThrowsAsync<KeyEncryptionException>(() => sut.DecryptAsync(token, "dep-b", CancellationToken.None));
        await Assert.ThrowsAsync<KeyEncryptionException>(() => sut.DecryptAsync(tampered, "dep-a", CancellationToken.None));
    }

    [Fact]
    public async Task Rotation_PreviousKeyStillDecrypts_UnknownKeyIsNamed()
    {
        var token = await With(KeyOne).EncryptAsync("sk-secret-provider-key", "dep-a", CancellationToken.None);

        var rotating = await With(KeyTwo, previous: KeyOne).DecryptAsync(token, "dep-a", CancellationToken.None);
        var lost = await Assert.ThrowsAsync<KeyEncryptionException>(() => With(KeyTwo).DecryptAsync(token, "dep-a", CancellationToken.None));

        Assert.Equal("sk-secret-provider-key", rotating);
        Assert.Contains(SecretNames.PreviousEncryptionKey, lost.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("too-short")]
    [InlineData("AAAA")]
    public async Task MissingOrMalformedKey_SaysHowToMakeOne(string? key)
    {
        var failure = await Assert.ThrowsAsync<KeyEncryptionException>(() => With(key).EncryptAsync("sk-x", "dep-a", CancellationToken.None));

        Assert.Contains("openssl rand -base64 32", failure.Message, StringComparison.Ordinal);
    }
}
