using System.Globalization;
using System.Text.Json;
using AiMesh.Contracts;

namespace AiMesh.Tests.DaprFiles;

/// <summary>
/// components/ and its compose and Kubernetes variants: component names, scopes, the actor store,
/// the resiliency policy and the local secrets file against the constants the code uses.
/// </summary>
public sealed class ComponentFilesTests
{
    public static TheoryData<string> Directories => [.. Repo.ComponentDirectories];

    private static IReadOnlyList<string> ComponentNames(string directory) =>
        [.. DaprResources.Components(directory).Select(c => c.Doc["metadata"]["name"].Str ?? "").Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Directories))]
    public void EveryComponentIsNamedByAConstantAndEveryConstantHasAComponent(string directory)
    {
        var expected = Constants.Of(typeof(Components)).Order(StringComparer.Ordinal);

        Assert.Equal(expected, ComponentNames(directory));
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public void EachComponentHasItsOwnFile(string directory)
    {
        foreach (var (file, doc) in DaprResources.Components(directory))
        {
            Assert.Single(Y.LoadAll(file));
            Assert.Equal($"{doc["metadata"]["name"].Str}.yaml", Path.GetFileName(file));
        }
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public void ComponentsAreScopedToKnownAppIds(string directory)
    {
        var expectedScopes = new Dictionary<string, string[]>
        {
            [Components.StateStore] = [AppIds.Router, AppIds.ProviderAdapter, AppIds.CostLedger, AppIds.Health],
            [Components.PubSub] = [AppIds.Router, AppIds.ProviderAdapter, AppIds.CostLedger, AppIds.Health],
            [Components.SecretStore] = [AppIds.Router, AppIds.ProviderAdapter],
        };

        foreach (var (_, doc) in DaprResources.Components(directory))
        {
            var name = doc["metadata"]["name"].Str!;
            var scopes = doc["scopes"].Strings;
            Assert.NotEmpty(scopes);
            Assert.All(scopes, s => Assert.Contains(s, AppIds.All));
            Assert.Equal(expectedScopes[name].Order(StringComparer.Ordinal), scopes.Order(StringComparer.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public void StateStoreIsTheActorStoreAndSharesKeysAcrossApps(string directory)
    {
        var store = DaprResources.Component(directory, Components.StateStore);

        Assert.Equal("state.redis", store["spec"]["type"].Str);
        Assert.Equal("true", DaprResources.Metadata(store, "actorStateStore"));
        Assert.Equal("name", DaprResources.Metadata(store, "keyPrefix"));

        // Exactly one actor state store per app: the QuotaActor's host must see one.
        var actorStores = DaprResources.Components(directory)
            .Where(c => DaprResources.Metadata(c.Doc, "actorStateStore") == "true")
            .Where(c => c.Doc["scopes"].Strings.Contains(AppIds.CostLedger))
            .ToList();
        Assert.Single(actorStores);
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public void PubSubAndSecretStoreHaveTheExpectedTypes(string directory)
    {
        Assert.Equal("pubsub.redis", DaprResources.Component(directory, Components.PubSub)["spec"]["type"].Str);

        var secretType = DaprResources.Component(directory, Components.SecretStore)["spec"]["type"].Str;
        var expected = directory.StartsWith("deploy/k8s", StringComparison.Ordinal) ? "secretstores.kubernetes" : "secretstores.local.file";
        Assert.Equal(expected, secretType);
    }

    [Fact]
    public void KubernetesRedisPasswordComesFromASecretKeyRef()
    {
        foreach (var name in new[] { Components.StateStore, Components.PubSub })
        {
            var component = DaprResources.Component("deploy/k8s/components", name);
            var password = DaprResources.MetadataEntry(component, "redisPassword");

            Assert.False(password["value"].Exists, $"{name}: redisPassword must not be a literal value");
            Assert.Equal("redis", password["secretKeyRef"]["name"].Str);
            Assert.Equal("redis-password", password["secretKeyRef"]["key"].Str);
            Assert.Equal("kubernetes", component["auth"]["secretStore"].Str);
            Assert.Equal("redis:6379", DaprResources.Metadata(component, "redisHost"));
        }
    }

    [Fact]
    public void ComposeComponentsReachRedisByItsServiceName()
    {
        foreach (var name in new[] { Components.StateStore, Components.PubSub })
        {
            Assert.Equal("redis:6379", DaprResources.Metadata(DaprResources.Component("deploy/compose/components", name), "redisHost"));
            Assert.Equal("localhost:6379", DaprResources.Metadata(DaprResources.Component("components", name), "redisHost"));
        }
    }

    [Fact]
    public void LocalSecretsFileHoldsEverySecretName()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Repo.PathOf("components", "secrets.json")));

        foreach (var secret in Constants.Of(typeof(SecretNames)))
        {
            Assert.True(json.RootElement.TryGetProperty(secret, out var value), $"secrets.json lacks \"{secret}\"");
            Assert.Equal(JsonValueKind.String, value.ValueKind);
        }

        // The router refuses a master key shorter than 16 characters: the dev placeholder must pass.
        var master = json.RootElement.GetProperty(SecretNames.MasterKey).GetString();
        Assert.Equal("dev-master-key-change-me", master);
        Assert.True(master!.Length >= AiMesh.Router.Auth.MasterKey.MinimumLength);
        Assert.Equal("", json.RootElement.GetProperty(SecretNames.OpenAiApiKey).GetString());
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public void ConfigurationTracesEverythingAndEnablesMetrics(string directory)
    {
        var config = DaprResources.Single(directory, "Configuration");

        Assert.Equal("aimesh-config", config["metadata"]["name"].Str);
        Assert.Equal("1", config["spec"]["tracing"]["samplingRate"].Str);
        var endpoint = config["spec"]["tracing"]["otel"]["endpointAddress"].Str;
        Assert.Equal(directory == "components" ? "localhost:4317" : "otel-collector:4317", endpoint);
        Assert.Equal("true", config["spec"]["metric"]["enabled"].Str);
    }

    [Fact]
    public void ComponentVariantsAgreeOnNamesTypesAndScopes()
    {
        string Shape(string directory) => string.Join(
            "\n",
            DaprResources.Components(directory)
                .Select(c => $"{c.Doc["metadata"]["name"].Str} {c.Doc["spec"]["type"].Str} {c.Doc["scopes"].Canonical}")
                .Order(StringComparer.Ordinal));

        var local = Shape("components");
        Assert.Equal(local, Shape("deploy/compose/components"));
        Assert.Equal(
            local.Replace("secretstores.local.file", "secretstores.kubernetes", StringComparison.Ordinal),
            Shape("deploy/k8s/components"));
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public void ResiliencyTargetsOnlyExistingAppsActorsAndComponents(string directory)
    {
        var resiliency = DaprResources.Single(directory, "Resiliency");
        var targets = resiliency["spec"]["targets"];

        Assert.All(resiliency["scopes"].Strings, s => Assert.Contains(s, AppIds.All));

        var apps = targets["apps"].Keys;
        Assert.All(apps, a => Assert.Contains(a, AppIds.All));
        // Every app the router or health invokes has a policy.
        Assert.Equal(
            new[] { AppIds.Validation, AppIds.ProviderAdapter, AppIds.CostLedger, AppIds.Health }.Order(StringComparer.Ordinal),
            apps.Order(StringComparer.Ordinal));

        Assert.Equal([ActorTypes.Quota], targets["actors"].Keys);

        var componentNames = ComponentNames(directory);
        Assert.All(targets["components"].Keys, c => Assert.Contains(c, componentNames));
        Assert.Contains(Components.StateStore, targets["components"].Keys);
        Assert.True(targets["components"][Components.StateStore]["outbound"].IsMapping, "statestore needs an outbound policy");
        Assert.True(targets["components"][Components.PubSub]["outbound"].IsMapping, "pubsub needs an outbound policy");
        Assert.True(targets["components"][Components.PubSub]["inbound"].IsMapping, "pubsub needs an inbound policy");
    }

    [Theory]
    [MemberData(nameof(Directories))]
    public void ResiliencyTargetsReferenceOnlyDefinedPolicies(string directory)
    {
        var spec = DaprResources.Single(directory, "Resiliency")["spec"];
        var policies = spec["policies"];
        var defined = new Dictionary<string, IReadOnlyList<string>>
        {
            ["timeout"] = policies["timeouts"].Keys,
            ["retry"] = policies["retries"].Keys,
            ["circuitBreaker"] = policies["circuitBreakers"].Keys,
        };

        var targets = spec["targets"]["apps"].Entries.Select(e => e.Value)
            .Concat(spec["targets"]["actors"].Entries.Select(e => e.Value))
            .Concat(spec["targets"]["components"].Entries.SelectMany(e => new[] { e.Value["outbound"], e.Value["inbound"] }))
            .Where(t => t.Exists)
            .ToList();
        Assert.NotEmpty(targets);

        foreach (var target in targets)
        {
            Assert.Contains(target.Entries, e => defined.ContainsKey(e.Key));
            foreach (var (kind, names) in defined)
            {
                var reference = target[kind].Str;
                if (reference is not null)
                {
                    Assert.True(names.Contains(reference), $"{target.Path}.{kind} names undefined policy '{reference}'");
                }
            }
        }

        foreach (var (name, retry) in policies["retries"].Entries)
        {
            Assert.True(retry["policy"].Str is "constant" or "exponential", $"retry {name}: unknown policy '{retry["policy"].Str}'");
            if (retry["policy"].Str == "exponential")
            {
                Assert.True(retry["maxInterval"].Exists, $"retry {name}: exponential needs maxInterval");
            }
        }
    }

    [Fact]
    public void ProviderAdapterTimeoutLeavesRoomForLongGenerations()
    {
        var spec = DaprResources.Single("components", "Resiliency")["spec"];
        var timeoutName = spec["targets"]["apps"][AppIds.ProviderAdapter]["timeout"].Str!;
        var timeout = GoDuration(spec["policies"]["timeouts"][timeoutName].Str!);

        Assert.True(timeout >= TimeSpan.FromSeconds(120), $"provider-adapter timeout {timeout} is too short for streamed generations");
        foreach (var other in new[] { AppIds.Validation, AppIds.CostLedger, AppIds.Health })
        {
            var name = spec["targets"]["apps"][other]["timeout"].Str!;
            Assert.True(GoDuration(spec["policies"]["timeouts"][name].Str!) < timeout);
        }
    }

    [Fact]
    public void ResiliencyIsTheSameInEveryVariant()
    {
        var local = DaprResources.Single("components", "Resiliency").Canonical;

        Assert.Equal(local, DaprResources.Single("deploy/compose/components", "Resiliency").Canonical);
        Assert.Equal(local, DaprResources.Single("deploy/k8s/components", "Resiliency").Canonical);
    }

    /// <summary>Parses the Go durations used here (e.g. 500ms, 5s, 2m, 1m30s, 1h).</summary>
    private static TimeSpan GoDuration(string text)
    {
        var total = TimeSpan.Zero;
        var match = System.Text.RegularExpressions.Regex.Matches(text, @"(\d+)(ms|s|m|h)");
        Assert.Equal(text, string.Concat(match.Select(m => m.Value)));
        foreach (System.Text.RegularExpressions.Match m in match)
        {
            var n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            total += m.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                _ => TimeSpan.FromHours(n),
            };
        }

        return total;
    }
}
