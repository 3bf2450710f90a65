using System.Globalization;
using AiMesh.Contracts;

namespace AiMesh.Tests.DaprFiles;

/// <summary>dapr.yaml (the multi-app run file) against the code's app-ids and the repository layout.</summary>
public sealed class DaprRunFileTests
{
    [Fact]
    public void RunFileIsVersion1WithTheComponentsDirectoryAsCommonResources()
    {
        var root = DaprRunFile.Root;

        Assert.Equal("1", root["version"].Str);
        var resources = root["common"]["resourcesPath"].Str;
        Assert.NotNull(resources);
        Assert.Equal(Repo.PathOf("components"), Path.GetFullPath(Path.Combine(Repo.Root, resources)).TrimEnd('/'));
    }

    [Fact]
    public void RunFileStartsEveryAppIdExactlyOnce()
    {
        var ids = DaprRunFile.Apps().Select(a => a.AppId).ToList();

        Assert.Equal(AppIds.All.Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void EachAppDirectoryIsTheServiceFolderNamedAfterItsAppIdAndHoldsTheProject()
    {
        foreach (var app in DaprRunFile.Apps())
        {
            Assert.Equal($"./services/{app.AppId}/", app.AppDirPath);
            Assert.True(Directory.Exists(app.Directory), $"{app.AppId}: {app.Directory} does not exist");
            var projects = Directory.GetFiles(app.Directory, "AiMesh.*.csproj");
            Assert.True(projects.Length == 1, $"{app.AppId}: expected one AiMesh.*.csproj in {app.Directory}, found {projects.Length}");
        }
    }

    [Fact]
    public void AllPortsAreDistinct()
    {
        var ports = DaprRunFile.Apps()
            .SelectMany(a => new[]
            {
                (a.AppId, "appPort", a.AppPort),
                (a.AppId, "daprHTTPPort", a.HttpPort),
                (a.AppId, "daprGRPCPort", a.GrpcPort),
                (a.AppId, "metricsPort", a.MetricsPort),
            })
            .ToList();

        var clashes = ports.GroupBy(p => p.Item3).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(p => $"{p.AppId}.{p.Item2}"))}")
            .ToList();
        Assert.True(clashes.Count == 0, "ports used twice: " + string.Join("; ", clashes));

        // 50005 and 50006 are the placement and scheduler ports of `dapr init`.
        Assert.DoesNotContain(ports, p => p.Item3 is 50005 or 50006);
    }

    [Fact]
    public void EachAppListensWhereItsAppPortSays()
    {
        foreach (var app in DaprRunFile.Apps())
        {
            Assert.Equal(["dotnet", "run", "--urls"], app.Command.Take(3));
            var url = new Uri(app.Command[3]);
            Assert.Equal(app.AppPort, url.Port);
            Assert.Equal("localhost", url.Host);
        }
    }

    [Fact]
    public void EachAppHasTheReadinessHealthCheckAndTheSharedConfiguration()
    {
        var configuration = DaprResources.Single("components", "Configuration");
        foreach (var app in DaprRunFile.Apps())
        {
            Assert.Equal("true", app.EnableAppHealthCheck?.ToLower(CultureInfo.InvariantCulture));
            Assert.Equal("/health/ready", app.AppHealthCheckPath);

            // configFilePath is relative to appDirPath.
            Assert.NotNull(app.ConfigFilePath);
            var config = Path.GetFullPath(Path.Combine(app.Directory, app.ConfigFilePath));
            Assert.Equal(Repo.PathOf("components", "config.yaml"), config);
            Assert.Equal("aimesh-config", Y.Load(config)["metadata"]["name"].Str);
        }

        Assert.Equal("aimesh-config", configuration["metadata"]["name"].Str);
    }

    [Fact]
    public void LocalSecretsFileResolvesFromTheDirectoryOfEveryAppThatMayUseIt()
    {
        // daprd resolves secretsFile against its working directory, which `dapr run -f` sets to appDirPath.
        var store = DaprResources.Component("components", Components.SecretStore);
        var secretsFile = DaprResources.Metadata(store, "secretsFile");
        Assert.NotNull(secretsFile);

        foreach (var appId in store["scopes"].Strings)
        {
            var resolved = Path.GetFullPath(Path.Combine(DaprRunFile.App(appId).Directory, secretsFile));
            Assert.Equal(Repo.PathOf("components", "secrets.json"), resolved);
            Assert.True(File.Exists(resolved), $"{appId}: {resolved} does not exist");
        }
    }
}
