using System.Text.RegularExpressions;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;

namespace AiMesh.ProviderAdapter.Catalog;

/// <summary>
/// The part of the catalog an admin changes at runtime: deployments added through the admin API
/// (their provider keys encrypted with <see cref="KeyEncryption"/>) and the enable/disable of any
/// deployment. Kept in the state store as one document; every provider-adapter replica reloads it
/// after its own changes and every few seconds, so a change is live without a restart.
/// </summary>
public sealed partial class ManagedCatalog(
    ProviderCatalog catalog,
    ManagedKeys managedKeys,
    KeyEncryption encryption,
    IStateStore state,
    TimeProvider time,
    ILogger<ManagedCatalog> logger) : IDeploymentAdminClient, IDisposable
{
    public const string StateKey = "catalog-managed-deployments";
    public const string SourceConfig = "config";
    public const string SourceAdmin = "admin";

    private readonly SemaphoreSlim _reload = new(1, 1);
    // Built configs are reused while unchanged, so a reload keeps each deployment's runtime (breaker) intact.
    private readonly Dictionary<(string Id, DateTimeOffset Version), (DeploymentConfig Config, IReadOnlyDictionary<string, string> Keys)> _built = [];
    private readonly Dictionary<(string Id, bool Enabled), DeploymentConfig> _overridden = [];
    private string? _loadedETag;
    private CatalogState _current = new();

    /// <summary>Reads the managed part from the state store and swaps it into the catalog when it changed.</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await _reload.WaitAsync(cancellationToken);
        try
        {
            var item = await state.GetAsync<CatalogState>(StateKey, cancellationToken);
            if (item is null || item.ETag == _loadedETag)
            {
                return;
            }

            var deployments = new List<DeploymentConfig>();
            var keys = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var configured in catalog.Configured)
            {
                deployments.Add(item.Value.EnabledOverrides.TryGetValue(configured.Id, out var enabled) && enabled != configured.Enabled
                    ? Overridden(configured, enabled)
                    : configured);
            }

            foreach (var managed in item.Value.Deployments.Where(m => !catalog.IsConfigured(m.Id)))
            {
                try
                {
                    var built = await BuildAsync(managed, cancellationToken);
                    deployments.Add(built.Config);
                    foreach (var (name, key) in built.Keys)
                    {
                        keys[name] = key;
                    }
                }
                catch (KeyEncryptionException e)
                {
                    LogUnreadable(e, managed.Id);
                }
            }

            foreach (var stale in _built.Keys.Where(k => !item.Value.Deployments.Any(d => d.Id == k.Id && d.UpdatedAt == k.Version)).ToList())
            {
                _built.Remove(stale);
            }

            managedKeys.Replace(keys);
            catalog.Replace(deployments);
            _current = item.Value;
            _loadedETag = item.ETag;
        }
        finally
        {
            _reload.Release();
        }
    }

    public async Task<IReadOnlyList<DeploymentView>> ListAsync(CancellationToken cancellationToken)
    {
        await ReloadAsync(cancellationToken);
        return catalog.Deployments.Select(View).ToList();
    }

    public async Task<DeploymentAdminResult> PutAsync(string id, DeploymentSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Problems(id, spec) is { Count: > 0 } errors)
        {
            return new DeploymentAdminResult(400, Errors: errors);
        }

        if (catalog.IsConfigured(id))
        {
            return new DeploymentAdminResult(409, Detail: $"Deployment '{id}' comes from the settings; change it there (the admin API can only enable or disable it).");
        }

        var created = false;
        var saved = await UpdateAsync(async current =>
        {
            var existing = current.Deployments.FirstOrDefault(d => d.Id == id);
            created = existing is null;
            // No apiKeys in the body keeps the stored ones: the keys need not be sent again with every change.
            var keys = spec.ApiKeys is null
                ? existing?.Keys ?? []
                : await EncryptAllAsync(id, spec.ApiKeys, cancellationToken);
            var replacement = new ManagedDeployment(id, spec with { ApiKeys = null }, keys, time.GetUtcNow());
            return current with { Deployments = [.. current.Deployments.Where(d => d.Id != id), replacement] };
        }, cancellationToken);
        return saved ?? (catalog.Find(id) is { } deployment
            ? new DeploymentAdminResult(created ? 201 : 200, View(deployment))
            : new DeploymentAdminResult(409, Detail: $"Deployment '{id}' changed meanwhile; read the catalog again."));
    }

    public async Task<DeploymentAdminResult> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        if (catalog.IsConfigured(id))
        {
            return new DeploymentAdminResult(409, Detail: $"Deployment '{id}' comes from the settings; remove it there, or disable it here.");
        }

        var found = false;
        var saved = await UpdateAsync(current =>
        {
            found = current.Deployments.Any(d => d.Id == id);
            return Task.FromResult(current with { Deployments = current.Deployments.Where(d => d.Id != id).ToList() });
        }, cancellationToken);
        return saved ?? (found ? new DeploymentAdminResult(204) : NotFound(id));
    }

    public async Task<DeploymentAdminResult> SetEnabledAsync(string id, bool enabled, CancellationToken cancellationToken)
    {
        await ReloadAsync(cancellationToken);
        if (!catalog.IsConfigured(id) && !_current.Deployments.Any(d => d.Id == id))
        {
            return NotFound(id);
        }

        var saved = await UpdateAsync(current =>
        {
            if (catalog.IsConfigured(id))
            {
                return Task.FromResult(current with { EnabledOverrides = new Dictionary<string, bool>(current.EnabledOverrides) { [id] = enabled } });
            }

            var managed = current.Deployments.Select(d => d.Id == id ? d with { Spec = d.Spec with { Enabled = enabled }, UpdatedAt = time.GetUtcNow() } : d);
            return Task.FromResult(current with { Deployments = managed.ToList() });
        }, cancellationToken);
        return saved ?? (catalog.Find(id) is { } deployment ? new DeploymentAdminResult(200, View(deployment)) : NotFound(id));
    }

    public async Task<DeploymentAdminResult> ReencryptAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        var saved = await UpdateAsync(async current =>
        {
            count = 0;
            var deployments = new List<ManagedDeployment>();
            foreach (var managed in current.Deployments)
            {
                var keys = new List<StoredKey>();
                foreach (var key in managed.Keys)
                {
                    var plain = await encryption.DecryptAsync(key.Cipher, managed.Id, cancellationToken);
                    keys.Add(key with { Cipher = await encryption.EncryptAsync(plain, managed.Id, cancellationToken) });
                    count++;
                }

                deployments.Add(managed with { Keys = keys });
            }

            return current with { Deployments = deployments };
        }, cancellationToken);
        return saved ?? new DeploymentAdminResult(200, Detail: $"{count} stored keys re-encrypted with key {await encryption.CurrentKeyIdAsync(cancellationToken)}.");
    }

    public void Dispose() => _reload.Dispose();

    /// <summary>Read, change, write with the ETag (retried on a lost race), then reload. Null on success, else the error to answer.</summary>
    private async Task<DeploymentAdminResult?> UpdateAsync(Func<CatalogState, Task<CatalogState>> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var item = await state.GetAsync<CatalogState>(StateKey, cancellationToken);
            CatalogState updated;
            try
            {
                updated = await change(item?.Value ?? new CatalogState());
            }
            catch (KeyEncryptionException e)
            {
                return new DeploymentAdminResult(409, Detail: e.Message);
            }

            if (await state.TrySaveAsync(StateKey, updated, item?.ETag ?? StateETag.MustNotExist, ttl: null, cancellationToken))
            {
                await ReloadAsync(cancellationToken);
                return null;
            }
        }

        return new DeploymentAdminResult(409, Detail: "The catalog changed meanwhile; retry.");
    }

    private async Task<List<StoredKey>> EncryptAllAsync(string id, IEnumerable<string> keys, CancellationToken cancellationToken)
    {
        var stored = new List<StoredKey>();
        foreach (var key in keys)
        {
            stored.Add(new StoredKey(await encryption.EncryptAsync(key.Trim(), id, cancellationToken), Mask(key.Trim())));
        }

        return stored;
    }

    private async Task<(DeploymentConfig Config, IReadOnlyDictionary<string, string> Keys)> BuildAsync(ManagedDeployment managed, CancellationToken cancellationToken)
    {
        if (_built.TryGetValue((managed.Id, managed.UpdatedAt), out var built))
        {
            return built;
        }

        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < managed.Keys.Count; i++)
        {
            keys[ManagedKeys.NameOf(managed.Id, i)] = await encryption.DecryptAsync(managed.Keys[i].Cipher, managed.Id, cancellationToken);
        }

        var options = Options(managed.Id, managed.Spec);
        options.ApiKeySecrets = [.. keys.Keys, .. managed.Spec.ApiKeySecrets ?? []];
        var config = ProviderCatalog.Freeze(options);
        _built[(managed.Id, managed.UpdatedAt)] = (config, keys);
        return (config, keys);
    }

    private DeploymentConfig Overridden(DeploymentConfig configured, bool enabled)
    {
        if (!_overridden.TryGetValue((configured.Id, enabled), out var config))
        {
            config = configured with { Enabled = enabled };
            _overridden[(configured.Id, enabled)] = config;
        }

        return config;
    }

    private DeploymentView View(DeploymentConfig d)
    {
        var managed = _current.Deployments.FirstOrDefault(m => m.Id == d.Id && !catalog.IsConfigured(d.Id));
        var keys = managed is null
            ? d.ApiKeySecrets.Select(s => $"secret:{s}").ToList()
            : [.. managed.Keys.Select(k => k.Hint), .. (managed.Spec.ApiKeySecrets ?? []).Select(s => $"secret:{s}")];
        return new DeploymentView(d.Id, managed is null ? SourceConfig : SourceAdmin, d.Provider, d.BaseUrl.ToString().TrimEnd('/'), d.Model,
            d.Aliases, d.Priority, d.Weight, d.Enabled, keys, managed?.UpdatedAt);
    }

    private static DeploymentAdminResult NotFound(string id) => new(404, Detail: $"Deployment '{id}' does not exist.");

    /// <summary>Enough to recognise a key in a listing, never enough to use it.</summary>
    private static string Mask(string key) => key.Length >= 16 ? $"{key[..3]}…{key[^4..]}" : "…";

    private static DeploymentOptions Options(string id, DeploymentSpec spec) => new()
    {
        Id = id,
        Provider = spec.Provider?.Trim(),
        BaseUrl = spec.BaseUrl,
        Model = spec.Model,
        Aliases = spec.Aliases ?? [],
        ApiKeySecrets = spec.ApiKeySecrets ?? [],
        Priority = spec.Priority ?? 0,
        Weight = spec.Weight ?? 1,
        Enabled = spec.Enabled ?? true,
        InputPricePerMillion = spec.InputPricePerMillion,
        OutputPricePerMillion = spec.OutputPricePerMillion,
        CachedInputPricePerMillion = spec.CachedInputPricePerMillion,
        ApiVersion = spec.ApiVersion,
        AzureDeployment = spec.AzureDeployment,
        Capabilities = new CapabilityOptions
        {
            Vision = spec.Capabilities?.Vision,
            Tools = spec.Capabilities?.Tools,
            JsonMode = spec.Capabilities?.JsonMode,
            ContextWindow = spec.Capabilities?.ContextWindow,
            Embeddings = spec.Capabilities?.Embeddings,
        },
        SettingName = "deployment",
        FieldSettings = JsonNames,
    };

    // The validator names settings; for an admin body it names the JSON fields instead.
    private static readonly IReadOnlyDictionary<string, string> JsonNames = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Id"] = "id", ["Provider"] = "provider", ["BaseUrl"] = "baseUrl", ["Model"] = "model", ["Weight"] = "weight",
        ["ApiVersion"] = "apiVersion", ["AzureDeployment"] = "azureDeployment", ["Capabilities:ContextWindow"] = "capabilities.contextWindow",
    };

    private static Dictionary<string, string[]> Problems(string id, DeploymentSpec spec)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (!DeploymentId().IsMatch(id))
        {
            errors["id"] = ["A deployment id is 1-64 characters of a-z, 0-9, '.', '-' and '_', starting with a letter or digit."];
        }

        if (spec.ApiKeys is { } keys && (keys.Count > 16 || keys.Any(k => string.IsNullOrWhiteSpace(k) || k.Length > 4096)))
        {
            errors["apiKeys"] = ["'apiKeys' holds at most 16 non-empty keys of at most 4096 characters."];
        }

        if (spec.ApiKeySecrets is { } secrets && (secrets.Count > 16 || secrets.Any(s => string.IsNullOrWhiteSpace(s) || s.Length > 256 || ManagedKeys.IsManaged(s))))
        {
            errors["apiKeySecrets"] = ["'apiKeySecrets' holds at most 16 secret names of at most 256 characters."];
        }

        if (spec.Aliases is { } aliases && (aliases.Count > 100 || aliases.Any(a => string.IsNullOrWhiteSpace(a) || a.Length > 256)))
        {
            errors["aliases"] = ["'aliases' holds at most 100 non-empty names of at most 256 characters."];
        }

        if (spec.Priority is < -1_000_000 or > 1_000_000)
        {
            errors["priority"] = ["'priority' must be between -1000000 and 1000000."];
        }

        if (errors.Count == 0)
        {
            var result = new ProviderCatalogValidator().Validate(null, new ProviderCatalogOptions { Deployments = [Options(id, spec)] });
            if (result.Failed)
            {
                errors["deployment"] = result.Failures.ToArray();
            }
        }

        return errors;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex DeploymentId();

    [LoggerMessage(EventId = 3020, EventName = "managed_deployment_unreadable", Level = LogLevel.Error,
        Message = "Deployment {DeploymentId} (added through the admin API) is left out: its keys cannot be decrypted")]
    private partial void LogUnreadable(Exception exception, string deploymentId);
}

/// <summary>The stored document: admin-managed deployments and the enable/disable of configured ones.</summary>
public sealed record CatalogState
{
    public List<ManagedDeployment> Deployments { get; init; } = [];
    public Dictionary<string, bool> EnabledOverrides { get; init; } = [];
}

/// <summary>A deployment added through the admin API: its spec (without keys) and its encrypted keys.</summary>
public sealed record ManagedDeployment(string Id, DeploymentSpec Spec, List<StoredKey> Keys, DateTimeOffset UpdatedAt);

/// <summary>An encrypted provider key and its masked hint for listings.</summary>
public sealed record StoredKey(string Cipher, string Hint);

/// <summary>Loads the managed catalog at start and reloads it every few seconds (other replicas' changes).</summary>
internal sealed partial class ManagedCatalogRefresher(ManagedCatalog catalog, ILogger<ManagedCatalogRefresher> logger) : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every);
        do
        {
            try
            {
                await catalog.ReloadAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogReloadFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "Could not reload the admin-managed deployments; retrying")]
    private partial void LogReloadFailed(Exception exception);
}
