using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace AiMesh.Bench.Micro;

/// <summary>
/// Runs the hot-path microbenchmarks in this process (no generated project to build): a short job
/// by default, BenchmarkDotNet's default job with <c>--full</c>. Other arguments go to
/// BenchmarkDotNet (<c>--filter *CacheKey*</c>); without a filter every benchmark runs.
/// </summary>
public static class MicroBenchmarks
{
    public static int Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var full = args.Contains("--full");
        var rest = args.Where(a => a != "--full").ToList();
        if (!rest.Contains("--filter") && !rest.Contains("-f"))
        {
            rest.AddRange(["--filter", "*"]);
        }

        var job = (full ? Job.Default : Job.ShortRun).WithToolchain(InProcessEmitToolchain.Instance);
        var config = DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithArtifactsPath(Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts"));
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(MicroBenchmarks).Assembly).Run([.. rest], config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
