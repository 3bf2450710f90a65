using System.Collections.Frozen;

namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>
/// The decrypted provider keys of admin-managed deployments, in memory only, under names that look
/// like secret names (<c>aimesh-managed/{deployment}/{n}</c>) so key rotation treats them like any secret.
/// </summary>
public sealed class ManagedKeys
{
    private const string Prefix = "aimesh-managed/";
    private volatile FrozenDictionary<string, string> _keys = FrozenDictionary<string, string>.Empty;

    public static bool IsManaged(string secretName) => secretName.StartsWith(Prefix, StringComparison.Ordinal);

    public static string NameOf(string deploymentId, int index) => $"{Prefix}{deploymentId}/{index}";

    public string? Find(string name) => _keys.GetValueOrDefault(name);

    internal void Replace(IReadOnlyDictionary<string, string> keys) => _keys = keys.ToFrozenDictionary(StringComparer.Ordinal);

    // Never print a key, whoever logs this object.
    public override string ToString() => $"ManagedKeys({_keys.Count})";
}
