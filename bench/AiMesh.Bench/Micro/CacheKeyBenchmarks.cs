using AiMesh.Contracts;
using AiMesh.Router.Caching;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Options;

namespace AiMesh.Bench.Micro;

/// <summary>The response cache key: SHA-256 of the normalised request plus the cache generations (cached for a second).</summary>
[MemoryDiagnoser]
public class CacheKeyBenchmarks : IDisposable
{
    private ResponseCache _cache = null!;
    private ChatCompletionRequest _request = new();

    [Params(SampleRequests.Small, SampleRequests.Conversation)]
    public string Request { get; set; } = SampleRequests.Small;

    [GlobalSetup]
    public void Setup()
    {
        _request = SampleRequests.Request(Request);
        _cache = new ResponseCache(new InMemoryStateStore(), new StaticOptionsMonitor<CacheOptions>(new CacheOptions()), TimeProvider.System);
    }

    [Benchmark]
    public bool IsCacheable() => _cache.IsCacheable("master", _request);

    [Benchmark]
    public Task<string> Key() => _cache.KeyAsync("master", _request, CancellationToken.None);

    [GlobalCleanup]
    public void Dispose()
    {
        _cache?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class StaticOptionsMonitor<T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}
