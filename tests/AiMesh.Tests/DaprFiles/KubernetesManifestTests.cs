using System.Globalization;
using AiMesh.Contracts;

namespace AiMesh.Tests.DaprFiles;

/// <summary>deploy/k8s against dapr.yaml, the components and the constants the code uses.</summary>
public sealed class KubernetesManifestTests
{
    private const string K8s = "deploy/k8s";

    private static IReadOnlyList<(string File, Y Doc)> Manifests() =>
    [
        .. Directory.EnumerateFiles(Repo.PathOf(K8s), "*.yaml", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .SelectMany(f => Y.LoadAll(f).Select(d => (f, d))),
    ];

    private static IReadOnlyList<Y> DaprDeployments() =>
    [
        .. Manifests().Select(m => m.Doc)
            .Where(d => d["kind"].Str == "Deployment")
            .Where(d => d["spec"]["template"]["metadata"]["annotations"]["dapr.io/enabled"].Str == "true"),
    ];

    private static string Annotation(Y deployment, string name) =>
        deployment["spec"]["template"]["metadata"]["annotations"][name].Str
        ?? throw new Xunit.Sdk.XunitException($"{deployment["metadata"]["name"].Str}: annotation {name} is missing");

    [Fact]
    public void EveryAppIdHasOneDaprEnabledDeployment()
    {
        var ids = DaprDeployments().Select(d => Annotation(d, "dapr.io/app-id")).ToList();

        Assert.All(ids, id => Assert.Contains(id, AppIds.All));
        Assert.Equal(AppIds.All.Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void DeploymentsCarryTheDaprAnnotationsWithTheAppPortOfDaprYaml()
    {
        foreach (var deployment in DaprDeployments())
        {
            var appId = Annotation(deployment, "dapr.io/app-id");
            var app = DaprRunFile.App(appId);
            var port = app.AppPort.ToString(CultureInfo.InvariantCulture);

            Assert.Equal(appId, deployment["metadata"]["name"].Str);
            Assert.Equal(port, Annotation(deployment, "dapr.io/app-port"));
            Assert.Equal("aimesh-config", Annotation(deployment, "dapr.io/config"));
            Assert.Equal("true", Annotation(deployment, "dapr.io/enable-app-health-check"));
            Assert.Equal("/health/ready", Annotation(deployment, "dapr.io/app-health-check-path"));
            Assert.Equal("true", Annotation(deployment, "dapr.io/log-as-json"));
            Assert.Equal("true", Annotation(deployment, "dapr.io/enable-metrics"));

            var container = deployment["spec"]["template"]["spec"]["containers"].Items.Single();
            Assert.Equal(port, container["ports"].Items.Single()["containerPort"].Str);
            Assert.Contains(
                container["env"].Items,
                e => e["name"].Str == "ASPNETCORE_HTTP_PORTS" && e["value"].Str == port);
            Assert.Equal("/health/live", container["livenessProbe"]["httpGet"]["path"].Str);
            Assert.Equal("/health/ready", container["readinessProbe"]["httpGet"]["path"].Str);
        }
    }

    [Fact]
    public void KubernetesComponentNamesEqualTheLocalOnes()
    {
        static IEnumerable<string> Names(string dir) =>
            DaprResources.Components(dir).Select(c => c.Doc["metadata"]["name"].Str ?? "").Order(StringComparer.Ordinal);

        Assert.Equal(Names("components"), Names("deploy/k8s/components"));
    }

    [Fact]
    public void KustomizationListsEveryManifestButTheSecretExample()
    {
        var kustomization = Y.Load(Repo.PathOf(K8s, "kustomization.yaml"));
        var listed = kustomization["resources"].Strings.Order(StringComparer.Ordinal).ToList();
        var onDisk = Directory.EnumerateFiles(Repo.PathOf(K8s), "*.yaml", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Repo.PathOf(K8s), f).Replace('\\', '/'))
            .Where(f => f is not "kustomization.yaml" and not "secrets.example.yaml")
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.Equal(onDisk, listed);
        Assert.Equal("aimesh", kustomization["namespace"].Str);
    }

    [Fact]
    public void SecretExampleHasEverySecretNameWithAKeyOfTheSameNameAndPlaceholderValues()
    {
        var secrets = Y.LoadAll(Repo.PathOf(K8s, "secrets.example.yaml"))
            .Where(d => d["kind"].Str == "Secret")
            .ToDictionary(d => d["metadata"]["name"].Str ?? "", StringComparer.Ordinal);

        foreach (var name in Constants.Of(typeof(SecretNames)))
        {
            Assert.True(secrets.TryGetValue(name, out var secret), $"secrets.example.yaml lacks Secret {name}");
            Assert.StartsWith("REPLACE-ME", secret["stringData"][name].Str, StringComparison.Ordinal);
        }

        Assert.StartsWith("REPLACE-ME", secrets["redis"]["stringData"]["redis-password"].Str, StringComparison.Ordinal);
    }

    [Fact]
    public void SecretReadersAreExactlyTheAppsTheSecretStoreIsScopedTo()
    {
        var store = DaprResources.Component("deploy/k8s/components", Components.SecretStore);
        var rbac = Y.LoadAll(Repo.PathOf(K8s, "rbac.yaml"));
        var binding = rbac.Single(d => d["kind"].Str == "RoleBinding");
        var role = rbac.Single(d => d["kind"].Str == "Role");

        Assert.Equal(
            store["scopes"].Strings.Order(StringComparer.Ordinal),
            binding["subjects"].Items.Select(s => s["name"].Str ?? "").Order(StringComparer.Ordinal));
        var readable = role["rules"].Items.Single()["resourceNames"].Strings;
        Assert.All(Constants.Of(typeof(SecretNames)), s => Assert.Contains(s, readable));
        foreach (var appId in store["scopes"].Strings)
        {
            Assert.Equal(appId, DaprDeployments().Single(d => Annotation(d, "dapr.io/app-id") == appId)["spec"]["template"]["spec"]["serviceAccountName"].Str);
        }
    }

    [Fact]
    public void CollectorConfigMapCarriesTheComposeCollectorPipeline()
    {
        var configMap = Y.LoadAll(Repo.PathOf(K8s, "otel-collector.yaml")).Single(d => d["kind"].Str == "ConfigMap");
        var inCluster = Y.Parse(configMap["data"]["config.yaml"].Str!, "otel-collector-config");
        var compose = Y.Load(Repo.PathOf("deploy", "otel-collector.yaml"));

        Assert.Equal(compose.Canonical, inCluster.Canonical);
    }
}
