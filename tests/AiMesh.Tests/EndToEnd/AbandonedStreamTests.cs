using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using AiMesh.Testing;

namespace AiMesh.Tests.EndToEnd;

/// <summary>Streams that end without the provider's usage: what the provider sees, and what the ledger records.</summary>
public sealed class AbandonedStreamTests
{
    [Fact]
    public async Task Stream_CallerHangsUpMidway_ProviderIsLetGoAndTheLedgerGetsAnEstimate()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        fake.Reply = string.Join(' ', Enumerable.Range(0, 60).Select(i => $"word{i}"));
        fake.StandingFault = new Fault { ChunkDelay = TimeSpan.FromMilliseconds(100) };
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        // A caller that hangs up at once: no draining the rest of the answer before the connection closes.
        using var caller = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = new Uri(gateway.BaseUrl) };
        caller.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", EmbeddedGateway.MasterKey);

        var received = new StringBuilder();
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody(stream: true)) })
        using (var response = await caller.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[4096];
            // Until three content chunks ("word0", " word1", " word2") have arrived.
            while (!received.ToString().Contains("word2", StringComparison.Ordinal))
            {
                var read = await body.ReadAsync(buffer);
                Assert.True(read > 0, "the stream ended early");
                received.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (fake.AbandonedStreams == 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        using var admin = gateway.CreateClient();
        var usage = (await Gateway.WaitForUsageAsync(admin, 1))["total"]!;

        Assert.Equal(1, fake.AbandonedStreams);
        Assert.Equal(1, usage["requests"]!.GetValue<long>());
        // The prompt as estimated, and about a token per four characters of what was streamed (15 to 60 words).
        Assert.InRange(usage["promptTokens"]!.GetValue<long>(), 5, 50);
        Assert.InRange(usage["completionTokens"]!.GetValue<long>(), 4, 130);
        Assert.True(usage["costUsd"]!.GetValue<decimal>() > 0m, usage.ToJsonString());
    }

    [Fact]
    public async Task Stream_BrokenByTheProviderAfterItStarted_IsRecordedWithAnEstimate()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        fake.Reply = string.Join(' ', Enumerable.Range(0, 20).Select(i => $"word{i}"));
        fake.StandingFault = new Fault { BreakStreamAfterChunks = 6 };
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        var text = await response.Content.ReadAsStringAsync();
        var usage = (await Gateway.WaitForUsageAsync(client, 1))["total"]!;

        Assert.Contains("stream_error", text, StringComparison.Ordinal);
        Assert.InRange(usage["completionTokens"]!.GetValue<long>(), 1, 20);
        Assert.True(usage["promptTokens"]!.GetValue<long>() > 0, usage.ToJsonString());
        Assert.True(usage["costUsd"]!.GetValue<decimal>() > 0m, usage.ToJsonString());
    }
}
