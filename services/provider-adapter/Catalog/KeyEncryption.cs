using System.Security.Cryptography;
using System.Text;
using AiMesh.BuildingBlocks.Secrets;
using AiMesh.Contracts;

namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>
/// Encrypts provider keys at rest with AES-256-GCM. The key comes from the secret store
/// (<see cref="SecretNames.EncryptionKey"/>, base64 of 32 bytes); during a rotation the old one stays
/// readable as <see cref="SecretNames.PreviousEncryptionKey"/>. A ciphertext names the key that made it
/// (<c>v1:{key id}:{base64 nonce|ciphertext|tag}</c>) and is bound to its deployment id (associated
/// data), so it cannot be moved to another deployment.
/// </summary>
public sealed class KeyEncryption(ISecretStore secrets)
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    /// <summary>Whether a usable encryption key is configured.</summary>
    public async Task<bool> IsConfiguredAsync(CancellationToken cancellationToken) =>
        await ReadKeyAsync(SecretNames.EncryptionKey, cancellationToken) is not null;

    /// <summary>The id of the current key, or null when none is configured.</summary>
    public async Task<string?> CurrentKeyIdAsync(CancellationToken cancellationToken) =>
        await ReadKeyAsync(SecretNames.EncryptionKey, cancellationToken) is { } key ? KeyId(key) : null;

    public async Task<string> EncryptAsync(string plaintext, string deploymentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var key = await ReadKeyAsync(SecretNames.EncryptionKey, cancellationToken)
            ?? throw new KeyEncryptionException($"No encryption key: set the secret '{SecretNames.EncryptionKey}' (environment variable AIMESH_ENCRYPTION_KEY in embedded mode) to base64 of 32 random bytes, e.g. `openssl rand -base64 32`.");
        var data = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[NonceSize + data.Length + TagSize];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, data, sealedBytes.AsSpan(NonceSize, data.Length), sealedBytes.AsSpan(NonceSize + data.Length), Encoding.UTF8.GetBytes(deploymentId));
        CryptographicOperations.ZeroMemory(data);
        return $"v1:{KeyId(key)}:{Convert.ToBase64String(sealedBytes)}";
    }

    public async Task<string> DecryptAsync(string token, string deploymentId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        var parts = token.Split(':');
        if (parts.Length != 3 || parts[0] != "v1")
        {
            throw new KeyEncryptionException($"Deployment '{deploymentId}': a stored key has an unknown format.");
        }

        byte[]? key = null;
        foreach (var name in new[] { SecretNames.EncryptionKey, SecretNames.PreviousEncryptionKey })
        {
            if (await ReadKeyAsync(name, cancellationToken) is { } candidate && KeyId(candidate) == parts[1])
            {
                key = candidate;
                break;
            }
        }

        if (key is null)
        {
            throw new KeyEncryptionException($"Deployment '{deploymentId}': a stored key was encrypted with key id {parts[1]}, which is neither '{SecretNames.EncryptionKey}' nor '{SecretNames.PreviousEncryptionKey}'.");
        }

        var sealedBytes = Convert.FromBase64String(parts[2]);
        var length = sealedBytes.Length - NonceSize - TagSize;
        var plain = new byte[length];
        using var aes = new AesGcm(key, TagSize);
        try
        {
            aes.Decrypt(sealedBytes.AsSpan(0, NonceSize), sealedBytes.AsSpan(NonceSize, length), sealedBytes.AsSpan(NonceSize + length), plain, Encoding.UTF8.GetBytes(deploymentId));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new KeyEncryptionException($"Deployment '{deploymentId}': a stored key failed authentication (tampered, or moved from another deployment).");
        }

        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>A short public fingerprint of an encryption key (never the key).</summary>
    public static string KeyId(byte[] key) => Convert.ToHexString(SHA256.HashData(key))[..8].ToLowerInvariant();

    private async Task<byte[]?> ReadKeyAsync(string name, CancellationToken cancellationToken)
    {
        var text = await secrets.GetSecretAsync(name, cancellationToken);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var bytes = new byte[32];
        return Convert.TryFromBase64String(text.Trim(), bytes, out var written) && written == 32
            ? bytes
            : throw new KeyEncryptionException($"The secret '{name}' must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`).");
    }
}

/// <summary>Provider keys cannot be encrypted or decrypted: a missing, malformed or unknown encryption key.</summary>
public sealed class KeyEncryptionException(string message) : Exception(message);
