using System.Security.Cryptography;
using System.Text;
using AiMesh.BuildingBlocks.Secrets;
using AiMesh.Contracts;
using AiMesh.ServiceDefaults;

namespace AiMesh.Router.Auth;

/// <summary>
/// The master key (AIMESH_MASTER_KEY; in Dapr mode the secret <c>aimesh-master-key</c>). Only its
/// SHA-256 is kept in memory; it is re-read from the secret store now and then, so a rotated
/// key is picked up without a restart.
/// </summary>
public sealed class MasterKey(ISecretStore secrets, TimeProvider time)
{
    public const int MinimumLength = 16;
    public const string SettingName = "AIMESH_MASTER_KEY";
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(30);
    private volatile Snapshot? _snapshot;

    /// <summary>Reads the key now; throws an error that names the setting when it is missing or too short.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var key = await secrets.GetSecretAsync(SecretNames.MasterKey, cancellationToken);
        if (string.IsNullOrEmpty(key))
        {
            throw new InvalidSettingException($"{SettingName} is not set (in Dapr mode: the secret '{SecretNames.MasterKey}'). It is the admin key and is required.");
        }

        if (key.Length < MinimumLength)
        {
            throw new InvalidSettingException($"{SettingName} must be at least {MinimumLength} characters long.");
        }

        _snapshot = new Snapshot(SHA256.HashData(Encoding.UTF8.GetBytes(key)), time.GetUtcNow() + RefreshEvery);
    }

    public async ValueTask<bool> MatchesAsync(string presented, CancellationToken cancellationToken)
    {
        var snapshot = _snapshot;
        if (snapshot is null || snapshot.RefreshAt <= time.GetUtcNow())
        {
            try
            {
                await LoadAsync(cancellationToken);
            }
            catch (InvalidSettingException) when (snapshot is not null)
            {
                // Keep the last good key when the store momentarily has none.
            }

            snapshot = _snapshot;
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        return snapshot is not null && CryptographicOperations.FixedTimeEquals(hash, snapshot.Hash);
    }

    private sealed record Snapshot(byte[] Hash, DateTimeOffset RefreshAt);
}

/// <summary>Refuses to start without a usable master key, so the error names the setting at once.</summary>
internal sealed class MasterKeyStartupCheck(MasterKey masterKey) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => masterKey.LoadAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
