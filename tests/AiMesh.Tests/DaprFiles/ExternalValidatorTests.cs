namespace AiMesh.Tests.DaprFiles;

/// <summary>
/// The compose file and the Kubernetes manifests through real validators: Debian's docker-compose
/// (`config -q`, offline) and eng/k8s-validate (kubernetes-models schemas). Both are installed by
/// ./test.sh; a missing validator fails these tests rather than skipping them. The negative tests
/// prove each validator rejects a deliberately broken copy, so a green run means something.
/// </summary>
public sealed class ExternalValidatorTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    private readonly string scratch = Directory.CreateTempSubdirectory("aimesh-daprfiles-").FullName;

    public void Dispose() => Directory.Delete(scratch, recursive: true);

    private static Task<ProcessResult> DockerComposeConfigAsync(string composeFile) =>
        ExternalTool.RunAsync(
            ExternalTool.Require("docker-compose"),
            ["--project-directory", Repo.Root, "-f", composeFile, "config", "-q"],
            Repo.Root,
            Timeout);

    private static Task<ProcessResult> K8sValidateAsync(string manifests)
    {
        var validator = Repo.PathOf("eng", "k8s-validate", "validate.mjs");
        if (!Directory.Exists(Repo.PathOf("eng", "k8s-validate", "node_modules", "kubernetes-models")))
        {
            throw new Xunit.Sdk.XunitException($"eng/k8s-validate/node_modules is missing. {ExternalTool.InstallHint}");
        }

        return ExternalTool.RunAsync(ExternalTool.Require("node"), [validator, manifests], Repo.Root, Timeout);
    }

    [Fact]
    public async Task ComposeFileIsValidForDockerCompose()
    {
        var result = await ExternalTool.RunAsync(
            ExternalTool.Require("docker-compose"),
            ["-f", "tye-free-compose.yml", "config", "-q"],
            Repo.Root,
            Timeout);

        Assert.True(result.ExitCode == 0, "docker-compose config -q rejected tye-free-compose.yml\n" + result.Output);
    }

    [Theory]
    [InlineData("    build:\n      context: .", "    networkmode: host\n    build:\n      context: .", "networkmode")]
    [InlineData("    ports:\n      - \"5100:5100\"", "    ports: \"5100:5100\"", "ports")]
    public async Task DockerComposeRejectsABrokenComposeFile(string original, string broken, string expectedInError)
    {
        var text = await File.ReadAllTextAsync(Repo.PathOf("tye-free-compose.yml"));
        Assert.Contains(original, text, StringComparison.Ordinal);
        var index = text.IndexOf(original, StringComparison.Ordinal);
        var file = Path.Combine(scratch, "broken-compose.yml");
        await File.WriteAllTextAsync(file, string.Concat(text.AsSpan(0, index), broken, text.AsSpan(index + original.Length)));

        // Control: the same copy, unbroken, passes from the scratch directory.
        var control = Path.Combine(scratch, "control-compose.yml");
        await File.WriteAllTextAsync(control, text);
        var controlResult = await DockerComposeConfigAsync(control);
        Assert.True(controlResult.ExitCode == 0, "the unbroken copy should pass\n" + controlResult.Output);

        var result = await DockerComposeConfigAsync(file);

        Assert.True(result.ExitCode != 0, "docker-compose accepted a broken compose file\n" + result.Output);
        Assert.Contains(expectedInError, result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KubernetesManifestsPassTheSchemaValidator()
    {
        var result = await K8sValidateAsync(Repo.PathOf("deploy", "k8s"));

        Assert.True(result.ExitCode == 0, "eng/k8s-validate rejected deploy/k8s\n" + result.Output);
        Assert.Contains(" 0 problems", result.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("router.yaml", "containerPort: 5100", "containerPort: \"not-a-port\"", "containerPort must be integer")]
    [InlineData("redis.yaml", "kind: Service\n", "kind: Servce\n", "unknown apiVersion/kind v1 Servce")]
    [InlineData("validation.yaml", "              port: http\n", "              port: htp\n", "port name \"htp\"")]
    public async Task SchemaValidatorRejectsBrokenManifests(string file, string original, string broken, string expectedInError)
    {
        var copy = Path.Combine(scratch, "k8s");
        CopyDirectory(Repo.PathOf("deploy", "k8s"), copy);
        var path = Path.Combine(copy, file);
        var text = await File.ReadAllTextAsync(path);
        Assert.Contains(original, text, StringComparison.Ordinal);
        await File.WriteAllTextAsync(path, text.Replace(original, broken, StringComparison.Ordinal));

        var result = await K8sValidateAsync(copy);

        Assert.True(result.ExitCode != 0, "eng/k8s-validate accepted a broken manifest\n" + result.Output);
        Assert.Contains(expectedInError, result.StdErr, StringComparison.Ordinal);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
