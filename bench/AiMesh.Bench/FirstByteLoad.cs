using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;

namespace AiMesh.Bench;

/// <summary>
/// A closed-loop load generator for streamed answers: each of N connections posts the body, and
/// measures the time to the first byte of the answer's body (the first SSE event) and to its end,
/// which must be <c>data: [DONE]</c>. wrk only sees whole responses, hence this tool. It prints one
/// <c>RESULT key=value ...</c> line with microseconds, and with <c>--pid</c> the CPU time (clock ticks)
/// that process used during the measured part.
/// </summary>
internal static class FirstByteLoad
{
    private static readonly byte[] DoneEvent = "data: [DONE]\n\n"u8.ToArray();

    public static async Task<int> RunAsync(string[] args)
    {
        var url = new Uri(Arguments.Required(args, "--url"));
        var body = await File.ReadAllBytesAsync(Arguments.Required(args, "--body"));
        var key = Arguments.Value(args, "--key");
        var connections = (int)Arguments.Number(args, "--connections", 1);
        var duration = TimeSpan.FromSeconds(Arguments.Number(args, "--duration", 10));
        var warmup = TimeSpan.FromSeconds(Arguments.Number(args, "--warmup", 1));
        var pid = Arguments.Value(args, "--pid");

        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        var auth = key is null ? null : new AuthenticationHeaderValue("Bearer", key);

        await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => LoopAsync(client, url, body, auth, warmup)));
        var cpuBefore = CpuTicks(pid);
        var started = Stopwatch.GetTimestamp();
        var loops = await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => LoopAsync(client, url, body, auth, duration)));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpu = CpuTicks(pid) - cpuBefore;

        var firstBytes = loops.SelectMany(l => l.FirstByte).Order().ToArray();
        var totals = loops.SelectMany(l => l.Total).Order().ToArray();
        var errors = loops.Sum(l => l.Errors);
        var line = string.Create(CultureInfo.InvariantCulture,
            $"RESULT requests={firstBytes.Length} errors={errors} seconds={seconds:0.000} rps={firstBytes.Length / seconds:0.0} " +
            $"ttfb_p50_us={Percentile(firstBytes, 50):0} ttfb_p90_us={Percentile(firstBytes, 90):0} ttfb_p99_us={Percentile(firstBytes, 99):0} " +
            $"p50_us={Percentile(totals, 50):0} p90_us={Percentile(totals, 90):0} p99_us={Percentile(totals, 99):0} server_cpu_ticks={cpu}");
        Console.WriteLine(line);
        if (errors > 0 && loops.FirstOrDefault(l => l.FirstError is not null)?.FirstError is { } first)
        {
            await Console.Error.WriteLineAsync($"ttfb: first error: {first}");
        }

        return 0;
    }

    private static async Task<Loop> LoopAsync(HttpClient client, Uri url, byte[] body, AuthenticationHeaderValue? auth, TimeSpan duration)
    {
        var loop = new Loop();
        var buffer = new byte[16 * 1024];
        var tail = new byte[DoneEvent.Length];
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Authorization = auth;
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                await using var stream = await response.Content.ReadAsStreamAsync();
                var read = await stream.ReadAsync(buffer);
                var firstByte = Stopwatch.GetTimestamp();
                var tailLength = 0;
                while (read > 0)
                {
                    tailLength = KeepTail(tail, tailLength, buffer.AsSpan(0, read));
                    read = await stream.ReadAsync(buffer);
                }

                var end = Stopwatch.GetTimestamp();
                if (!response.IsSuccessStatusCode || tailLength < tail.Length || !tail.AsSpan().SequenceEqual(DoneEvent))
                {
                    loop.Fail($"HTTP {(int)response.StatusCode}, or the stream did not end with [DONE]");
                    continue;
                }

                loop.FirstByte.Add(Microseconds(firstByte - start));
                loop.Total.Add(Microseconds(end - start));
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException or TaskCanceledException)
            {
                loop.Fail(exception.Message);
            }
        }

        return loop;
    }

    /// <summary>Keeps the last <c>tail.Length</c> bytes seen; returns how many are valid.</summary>
    private static int KeepTail(byte[] tail, int length, ReadOnlySpan<byte> data)
    {
        if (data.Length >= tail.Length)
        {
            data[^tail.Length..].CopyTo(tail);
            return tail.Length;
        }

        var keep = Math.Min(length, tail.Length - data.Length);
        tail.AsSpan(length - keep, keep).CopyTo(tail);
        data.CopyTo(tail.AsSpan(keep));
        return keep + data.Length;
    }

    /// <summary>User + system CPU time of a process in clock ticks (/proc/PID/stat fields 14 and 15); 0 without a pid.</summary>
    private static long CpuTicks(string? pid)
    {
        if (pid is null)
        {
            return 0;
        }

        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private static double Microseconds(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    /// <summary>Nearest-rank percentile of sorted samples (0 when there are none).</summary>
    private static double Percentile(double[] sorted, double percentile) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];

    private sealed class Loop
    {
        public List<double> FirstByte { get; } = [];
        public List<double> Total { get; } = [];
        public int Errors { get; private set; }
        public string? FirstError { get; private set; }

        public void Fail(string error)
        {
            Errors++;
            FirstError ??= error;
        }
    }
}
