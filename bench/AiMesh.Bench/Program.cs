using AiMesh.Bench;
using AiMesh.Bench.Micro;

// The benchmark's tools; bench/run.sh drives the first two, `micro` runs on its own:
//   upstream --urls http://127.0.0.1:PORT                      the fake OpenAI-compatible provider
//   ttfb --url URL --body FILE [--key KEY] [--connections N] [--duration S] [--warmup S]
//                                                              time to first byte of streamed answers
//   micro [--full] [BenchmarkDotNet arguments, e.g. --filter *CacheKey*]
//                                                              the hot-path microbenchmarks (short job unless --full)
return args.FirstOrDefault() switch
{
    "upstream" => await FakeUpstream.RunAsync(args[1..]),
    "ttfb" => await FirstByteLoad.RunAsync(args[1..]),
    "micro" => MicroBenchmarks.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: AiMesh.Bench upstream|ttfb|micro [options] (see bench/run.sh and bench/AiMesh.Bench/Program.cs)");
    return 2;
}
