using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace AiMesh.Tests.DaprFiles;

/// <summary>Paths in the repository, found by walking up from the test binaries to AiMesh.sln.</summary>
internal static class Repo
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    public static string Root => RootPath.Value;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>The three variants of the Dapr resources: self-hosted, compose, Kubernetes.</summary>
    public static readonly string[] ComponentDirectories =
    [
        "components",
        "deploy/compose/components",
        "deploy/k8s/components",
    ];

    private static string FindRoot()
    {
        // AIMESH_REPO_ROOT lets the same tests run from a build outside the repository.
        var overridden = Environment.GetEnvironmentVariable("AIMESH_REPO_ROOT");
        if (!string.IsNullOrEmpty(overridden) && File.Exists(Path.Combine(overridden, "AiMesh.sln")))
        {
            return Path.GetFullPath(overridden);
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AiMesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException(
            $"AiMesh.sln not found above {AppContext.BaseDirectory}; set AIMESH_REPO_ROOT to the repository root.");
    }
}

/// <summary>A read-only view of a YAML node: missing keys give a node whose <see cref="Exists"/> is false.</summary>
internal sealed class Y
{
    private static readonly Y Missing = new(null, "(missing)");

    private readonly YamlNode? node;

    private Y(YamlNode? node, string path)
    {
        this.node = node;
        Path = path;
    }

    /// <summary>Where the node is, for assertion messages.</summary>
    public string Path { get; }

    public bool Exists => node is not null;

    /// <summary>The scalar's text; null for a mapping, a sequence or a missing node.</summary>
    public string? Str => (node as YamlScalarNode)?.Value;

    public bool IsMapping => node is YamlMappingNode;

    public Y this[string key]
    {
        get
        {
            if (node is YamlMappingNode mapping)
            {
                foreach (var (k, v) in mapping.Children)
                {
                    if (k is YamlScalarNode s && s.Value == key)
                    {
                        return new Y(v, $"{Path}.{key}");
                    }
                }
            }

            return Missing;
        }
    }

    /// <summary>The items of a sequence (empty for anything else).</summary>
    public IEnumerable<Y> Items =>
        node is YamlSequenceNode sequence
            ? sequence.Children.Select((c, i) => new Y(c, $"{Path}[{i}]"))
            : [];

    /// <summary>The entries of a mapping (empty for anything else).</summary>
    public IEnumerable<KeyValuePair<string, Y>> Entries =>
        node is YamlMappingNode mapping
            ? mapping.Children.Select(kv =>
            {
                var key = ((YamlScalarNode)kv.Key).Value ?? "";
                return new KeyValuePair<string, Y>(key, new Y(kv.Value, $"{Path}.{key}"));
            })
            : [];

    public IReadOnlyList<string> Keys => [.. Entries.Select(e => e.Key)];

    /// <summary>The scalar items of a sequence.</summary>
    public IReadOnlyList<string> Strings => [.. Items.Select(i => i.Str ?? "")];

    public int Int => int.Parse(Str ?? throw new InvalidOperationException($"{Path} is not a scalar"), CultureInfo.InvariantCulture);

    /// <summary>A canonical text of the node (mapping keys sorted), to compare two trees.</summary>
    public string Canonical
    {
        get
        {
            var sb = new StringBuilder();
            Write(node, sb);
            return sb.ToString();
        }
    }

    public static IReadOnlyList<Y> LoadAll(string file)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(file))
        {
            stream.Load(reader);
        }

        var name = System.IO.Path.GetFileName(file);
        return
        [
            .. stream.Documents
                .Where(d => d.RootNode is not YamlScalarNode { Value: null or "" })
                .Select((d, i) => new Y(d.RootNode, stream.Documents.Count > 1 ? $"{name}#{i + 1}" : name)),
        ];
    }

    public static Y Load(string file)
    {
        var docs = LoadAll(file);
        return docs.Count == 1 ? docs[0] : throw new InvalidOperationException($"{file} holds {docs.Count} YAML documents, expected 1");
    }

    /// <summary>Parses YAML text (e.g. a ConfigMap value).</summary>
    public static Y Parse(string text, string path)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return new Y(stream.Documents[0].RootNode, path);
    }

    private static void Write(YamlNode? n, StringBuilder sb)
    {
        switch (n)
        {
            case YamlScalarNode s:
                sb.Append('"').Append(s.Value).Append('"');
                break;
            case YamlSequenceNode q:
                sb.Append('[');
                foreach (var c in q.Children)
                {
                    Write(c, sb);
                    sb.Append(',');
                }

                sb.Append(']');
                break;
            case YamlMappingNode m:
                sb.Append('{');
                foreach (var (k, v) in m.Children.OrderBy(kv => ((YamlScalarNode)kv.Key).Value, StringComparer.Ordinal))
                {
                    Write(k, sb);
                    sb.Append(':');
                    Write(v, sb);
                    sb.Append(',');
                }

                sb.Append('}');
                break;
            default:
                sb.Append("null");
                break;
        }
    }

    public override string ToString() => $"{Path}: {Str ?? node?.NodeType.ToString() ?? "(missing)"}";
}

/// <summary>One app of dapr.yaml.</summary>
internal sealed record DaprApp(
    string AppId,
    string AppDirPath,
    int AppPort,
    int HttpPort,
    int GrpcPort,
    int MetricsPort,
    string? ConfigFilePath,
    IReadOnlyList<string> Command,
    string? EnableAppHealthCheck,
    string? AppHealthCheckPath)
{
    /// <summary>The app's directory, absolute.</summary>
    public string Directory => Path.GetFullPath(Path.Combine(Repo.Root, AppDirPath));
}

internal static class DaprRunFile
{
    public static Y Root => Y.Load(Repo.PathOf("dapr.yaml"));

    public static IReadOnlyList<DaprApp> Apps()
    {
        var root = Root;
        var common = root["common"];
        return
        [
            .. root["apps"].Items.Select(a => new DaprApp(
                a["appID"].Str ?? "",
                a["appDirPath"].Str ?? "",
                a["appPort"].Int,
                a["daprHTTPPort"].Int,
                a["daprGRPCPort"].Int,
                a["metricsPort"].Int,
                a["configFilePath"].Str ?? common["configFilePath"].Str,
                a["command"].Strings,
                a["enableAppHealthCheck"].Str ?? common["enableAppHealthCheck"].Str,
                a["appHealthCheckPath"].Str ?? common["appHealthCheckPath"].Str)),
        ];
    }

    public static DaprApp App(string appId) => Apps().Single(a => a.AppId == appId);
}

/// <summary>The values of the public string constants of a class such as AiMesh.Contracts.Components.</summary>
internal static class Constants
{
    public static IReadOnlyList<string> Of(Type type) =>
    [
        .. type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!),
    ];
}

/// <summary>Dapr resources (Component, Resiliency, Configuration, ...) of one directory.</summary>
internal static class DaprResources
{
    public static IReadOnlyList<(string File, Y Doc)> In(string relativeDirectory) =>
    [
        .. Directory.EnumerateFiles(Repo.PathOf(relativeDirectory), "*.yaml")
            .Order(StringComparer.Ordinal)
            .SelectMany(f => Y.LoadAll(f).Select(d => (f, d)))
            .Where(x => (x.d["apiVersion"].Str ?? "").StartsWith("dapr.io/", StringComparison.Ordinal)),
    ];

    public static IReadOnlyList<(string File, Y Doc)> Components(string relativeDirectory) =>
        [.. In(relativeDirectory).Where(x => x.Doc["kind"].Str == "Component")];

    public static Y Component(string relativeDirectory, string name) =>
        Components(relativeDirectory).Single(c => c.Doc["metadata"]["name"].Str == name).Doc;

    public static Y Single(string relativeDirectory, string kind) =>
        In(relativeDirectory).Single(x => x.Doc["kind"].Str == kind).Doc;

    /// <summary>The value of a component's spec.metadata entry (null when absent or a secretKeyRef).</summary>
    public static string? Metadata(Y component, string name) =>
        component["spec"]["metadata"].Items.FirstOrDefault(m => m["name"].Str == name)?["value"].Str;

    public static Y MetadataEntry(Y component, string name) =>
        component["spec"]["metadata"].Items.Single(m => m["name"].Str == name);
}

internal sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    public string Output => $"exit code {ExitCode}\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
}

/// <summary>Runs the external validators (docker-compose, node) that ./test.sh installs.</summary>
internal static class ExternalTool
{
    public const string InstallHint = "Run ./test.sh at the repository root: it installs the validators the tests need.";

    /// <summary>The full path of an executable on PATH, or null.</summary>
    public static string? Find(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The path of a required tool; fails the test (never skips it) when it is missing.</summary>
    public static string Require(string name) =>
        Find(name) ?? throw new Xunit.Sdk.XunitException($"'{name}' is not on PATH. {InstallHint}");

    public static async Task<ProcessResult> RunAsync(string executable, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(executable)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new Xunit.Sdk.XunitException($"cannot start {executable}: {e.Message}. {InstallHint}");
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"{executable} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}");
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }
}
