using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace AiMesh.Tests.Bench;

/// <summary>The benchmark saturates the machine: it runs alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BenchRunsAlone
{
    public const string Name = "bench";
}

/// <summary>
/// bench/run.sh in its smoke mode (1 s scenarios, 1 connection) against the Release build that
/// `dotnet test -c Release` just made, so the benchmark script cannot rot.
/// </summary>
[Collection(BenchRunsAlone.Name)]
public sealed partial class BenchSmokeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task RunSh_Smoke_ExitsZeroAndPrintsAiMeshThroughput()
    {
        Assert.True(OnPath("wrk"), "wrk is not installed: run ./test.sh, which installs it (Debian package wrk).");
        var root = RepositoryRoot();
        var start = new ProcessStartInfo("bash")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "bench/run.sh", "--smoke", "--no-build" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(HangGuard))
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        var text = await stdout;
        output.WriteLine(text);
        output.WriteLine(await stderr);
        Assert.True(process.ExitCode == 0, $"bench/run.sh --smoke exited with {process.ExitCode} (see the output above).");
        var row = AiMeshNonStreamingRow().Match(text);
        Assert.True(row.Success, "The table has no 'non-streaming 1 aimesh' row.");
        Assert.True(double.Parse(row.Groups["rps"].Value, CultureInfo.InvariantCulture) > 0, $"No requests/s through AiMesh: {row.Value}");
    }

    [GeneratedRegex(@"^non-streaming\s+1\s+aimesh\s+(?<rps>[0-9.]+)\s", RegexOptions.Multiline)]
    private static partial Regex AiMeshNonStreamingRow();

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AiMesh.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No AiMesh.sln above {AppContext.BaseDirectory}.");
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, tool)));
}
