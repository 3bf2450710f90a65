using System.Globalization;
using AiMesh.Contracts;

namespace AiMesh.Tests.DaprFiles;

/// <summary>tye-free-compose.yml against dapr.yaml, the services and the compose components.</summary>
public sealed class ComposeFileTests
{
    private static Y Compose => Y.Load(Repo.PathOf("tye-free-compose.yml"));

    private static Y Sidecar(Y services, string appId)
    {
        var sidecars = services.Entries
            .Where(s => (s.Value["image"].Str ?? "").StartsWith("daprio/daprd:", StringComparison.Ordinal))
            .Where(s => s.Value["network_mode"].Str == $"service:{appId}")
            .Select(s => s.Value)
            .ToList();
        Assert.True(sidecars.Count == 1, $"expected one daprd service with network_mode service:{appId}, found {sidecars.Count}");
        return sidecars[0];
    }

    /// <summary>The value after a daprd flag, accepting -flag and --flag.</summary>
    private static string? Flag(IReadOnlyList<string> command, string name)
    {
        for (var i = 0; i < command.Count - 1; i++)
        {
            if (command[i] == $"-{name}" || command[i] == $"--{name}")
            {
                return command[i + 1];
            }
        }

        return command.FirstOrDefault(c => c.StartsWith($"-{name}=", StringComparison.Ordinal) || c.StartsWith($"--{name}=", StringComparison.Ordinal))
            ?.Split('=', 2)[1];
    }

    [Fact]
    public void EveryAppIdIsAServiceBuiltFromTheSharedDockerfile()
    {
        var services = Compose["services"];
        foreach (var appId in AppIds.All)
        {
            var service = services[appId];
            Assert.True(service.Exists, $"no compose service '{appId}'");
            Assert.Equal(".", service["build"]["context"].Str);
            Assert.Equal("deploy/docker/Dockerfile", service["build"]["dockerfile"].Str);

            var project = service["build"]["args"]["PROJECT"].Str;
            Assert.NotNull(project);
            Assert.StartsWith($"services/{appId}/", project, StringComparison.Ordinal);
            Assert.True(File.Exists(Repo.PathOf(project)), $"{appId}: PROJECT {project} does not exist");
        }

        Assert.True(File.Exists(Repo.PathOf("deploy", "docker", "Dockerfile")));
    }

    [Fact]
    public void EveryAppHasADaprSidecarWithItsAppIdAndTheAppPortOfDaprYaml()
    {
        var services = Compose["services"];
        foreach (var app in DaprRunFile.Apps())
        {
            var command = Sidecar(services, app.AppId)["command"].Strings;

            Assert.Equal("./daprd", command[0]);
            Assert.Equal(app.AppId, Flag(command, "app-id"));
            Assert.Equal(app.AppPort.ToString(CultureInfo.InvariantCulture), Flag(command, "app-port"));
            Assert.Equal(app.AppPort.ToString(CultureInfo.InvariantCulture), services[app.AppId]["environment"]["ASPNETCORE_HTTP_PORTS"].Str);
            Assert.Equal(app.HttpPort.ToString(CultureInfo.InvariantCulture), Flag(command, "dapr-http-port"));
            Assert.Equal(app.GrpcPort.ToString(CultureInfo.InvariantCulture), Flag(command, "dapr-grpc-port"));
            Assert.Equal(app.HttpPort.ToString(CultureInfo.InvariantCulture), services[app.AppId]["environment"]["DAPR_HTTP_PORT"].Str);
            Assert.Equal(app.GrpcPort.ToString(CultureInfo.InvariantCulture), services[app.AppId]["environment"]["DAPR_GRPC_PORT"].Str);
            Assert.Equal("/health/ready", Flag(command, "app-health-check-path"));
        }
    }

    [Fact]
    public void SidecarsUseTheComposeComponentsAndTheControlPlaneServices()
    {
        var services = Compose["services"];
        Assert.StartsWith("daprio/placement:", services["placement"]["image"].Str, StringComparison.Ordinal);
        Assert.StartsWith("daprio/scheduler:", services["scheduler"]["image"].Str, StringComparison.Ordinal);
        Assert.True(services["redis"].Exists);
        Assert.StartsWith("otel/opentelemetry-collector-contrib:", services["otel-collector"]["image"].Str, StringComparison.Ordinal);
        Assert.Contains("./deploy/otel-collector.yaml:/etc/otelcol-contrib/config.yaml:ro", services["otel-collector"]["volumes"].Strings);

        foreach (var appId in AppIds.All)
        {
            var sidecar = Sidecar(services, appId);
            var command = sidecar["command"].Strings;

            Assert.Equal("placement:50005", Flag(command, "placement-host-address"));
            Assert.Equal("scheduler:50006", Flag(command, "scheduler-host-address"));
            Assert.Equal("/components", Flag(command, "resources-path"));
            Assert.Equal("/components/config.yaml", Flag(command, "config"));
            Assert.Contains("./deploy/compose/components:/components:ro", sidecar["volumes"].Strings);
            Assert.Equal("http://otel-collector:4317", services[appId]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"].Str);
        }

        Assert.True(File.Exists(Repo.PathOf("deploy", "compose", "components", "config.yaml")));
    }

    [Fact]
    public void SecretStoreAppsMountTheLocalSecretsFileWhereTheComposeComponentReadsIt()
    {
        var services = Compose["services"];
        var store = DaprResources.Component("deploy/compose/components", Components.SecretStore);
        var secretsFile = DaprResources.Metadata(store, "secretsFile");

        foreach (var appId in store["scopes"].Strings)
        {
            Assert.Contains($"./components/secrets.json:{secretsFile}:ro", Sidecar(services, appId)["volumes"].Strings);
        }
    }

    [Fact]
    public void ComposeComponentNamesEqualTheLocalOnes()
    {
        static IEnumerable<string> Names(string dir) =>
            DaprResources.Components(dir).Select(c => c.Doc["metadata"]["name"].Str ?? "").Order(StringComparer.Ordinal);

        Assert.Equal(Names("components"), Names("deploy/compose/components"));
    }

    [Fact]
    public void DockerfileCopiesOnlyPathsThatExistAndTakesTheProjectAsABuildArg()
    {
        var lines = File.ReadAllLines(Repo.PathOf("deploy", "docker", "Dockerfile"));

        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:", StringComparison.Ordinal));
        Assert.Contains("ARG PROJECT", lines);
        var sources = lines
            .Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=", StringComparison.Ordinal))
            .SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1])
            .ToList();
        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            Assert.True(Path.Exists(Repo.PathOf(source)), $"the Dockerfile copies {source}, which does not exist");
        }
    }

    [Fact]
    public void OnlyTheRouterPublishesItsPort()
    {
        var services = Compose["services"];

        Assert.Equal(["5100:5100"], services[AppIds.Router]["ports"].Strings);
        foreach (var appId in AppIds.All.Where(a => a != AppIds.Router))
        {
            Assert.False(services[appId]["ports"].Exists, $"{appId} should not be published on the host");
        }
    }
}
