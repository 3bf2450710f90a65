using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;

namespace AiMesh.Tests.Quotas;

/// <summary>The embedded host killed mid-load (no graceful stop) and started again keeps every acknowledged record and budget, and no reservation of a request that died with it.</summary>
public sealed class CrashRecoveryTests
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Process StartHost(string url, string database, FakeOpenAiProvider fake)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "AiMesh.Embedded.exe" : "AiMesh.Embedded"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                $"--urls={url}",
                $"--AiMesh:Embedded:DatabasePath={database}",
                "--AiMesh:Deployments:0:Id=priced",
                "--AiMesh:Deployments:0:Provider=openai-compatible",
                $"--AiMesh:Deployments:0:BaseUrl={fake.BaseUrl}",
                "--AiMesh:Deployments:0:Model=gpt-4o-mini",
                "--AiMesh:Deployments:0:InputPricePerMillion=1",
                "--AiMesh:Deployments:0:OutputPricePerMillion=2",
                "--AiMesh:Quotas:Default:RequestsPerMinute=100000",
                "--Logging:LogLevel:Default=Warning",
            },
        };
        start.Environment["AIMESH_MASTER_KEY"] = EmbeddedGateway.MasterKey;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitReadyAsync(HttpClient client)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var ready = await client.GetAsync("/health/ready");
                if (ready.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new Xunit.Sdk.XunitException("The embedded host did not become ready.");
    }

    [Fact]
    public async Task KilledMidLoad_Restarted_KeepsEveryAcknowledgedUsageRecordAndBudget()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var url = $"http://127.0.0.1:{FreePort()}";
        var database = EmbeddedGateway.NewDatabasePath();
        using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", EmbeddedGateway.MasterKey);
        var acknowledged = new ConcurrentDictionary<string, decimal>();
        using var host = StartHost(url, database, fake);
        try
        {
            await WaitReadyAsync(client);
            using var stop = new CancellationTokenSource();
            var next = 0;
            async Task LoadAsync()
            {
                while (!stop.IsCancellationRequested)
                {
                    var id = $"crash-{Interlocked.Increment(ref next)}";
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
                    request.Headers.Add("x-request-id", id);
                    try
                    {
                        using var response = await client.SendAsync(request);
                        var body = await response.Content.ReadAsStringAsync();
                        if (response.StatusCode == HttpStatusCode.OK && body.Contains("chat.completion", StringComparison.Ordinal))
                        {
                            acknowledged[response.Headers.GetValues("x-aimesh-request-id").Single()] = decimal.Parse(response.Headers.GetValues("x-aimesh-cost-usd").Single(), CultureInfo.InvariantCulture);
                        }
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or IOException)
                    {
                        // The host died under this request: it was never acknowledged.
                    }
                }
            }

            var load = Enumerable.Range(0, 8).Select(_ => Task.Run(LoadAsync)).ToArray();
            var clock = Stopwatch.StartNew();
            while (acknowledged.Count < 150 && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(10);
            }

            host.Kill(entireProcessTree: true);
            await host.WaitForExitAsync();
            await stop.CancelAsync();
            await Task.WhenAll(load);
        }
        finally
        {
            if (!host.HasExited)
            {
                host.Kill(entireProcessTree: true);
            }
        }

        Assert.True(acknowledged.Count >= 150, $"only {acknowledged.Count} requests were acknowledged before the kill");
        using var restarted = StartHost(url, database, fake);
        try
        {
            await WaitReadyAsync(client);
            var usage = await Gateway.WaitForUsageAsync(client, acknowledged.Count);
            foreach (var (id, cost) in acknowledged)
            {
                var record = await client.GetFromJsonAsync<JsonNode>($"/admin/usage/requests/{id}");
                Assert.Equal(cost, record?["costUsd"]?.GetValue<decimal>());
            }

            var quota = await client.GetFromJsonAsync<JsonNode>("/admin/tenants/master/quota");
            Assert.True(quota?["spentTodayUsd"]?.GetValue<decimal>() >= acknowledged.Values.Sum(), $"budget spent {quota?["spentTodayUsd"]} < acknowledged {acknowledged.Values.Sum()}");
            // The requests in flight at the kill died with the process: their reservations hold nothing back.
            Assert.Equal(0, quota?["openReservations"]?.GetValue<int>());
            Assert.True(usage["total"]!["costUsd"]!.GetValue<decimal>() >= acknowledged.Values.Sum());
        }
        finally
        {
            restarted.Kill(entireProcessTree: true);
            await restarted.WaitForExitAsync();
        }
    }
}
