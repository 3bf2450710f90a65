using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;
using OpenTelemetry.Trace;

namespace AiMesh.Tests.Observability;

/// <summary>Traces, metrics and logs of real requests through the embedded host.</summary>
public sealed class TelemetryTests
{
    [Fact]
    public async Task OneRequest_FormsOneTraceFromRouterToProviderToLedger()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var spans = new List<Activity>();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake),
            configure: b => b.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans).SetSampler(new AlwaysOnSampler())));
        using var client = gateway.CreateClient();

        // Activity listeners are process-wide: other tests' spans arrive too, so find ours by request id.
        var requestId = $"trace-{Guid.NewGuid():N}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody()) };
        request.Headers.Add("x-request-id", requestId);
        using var response = await client.SendAsync(request);
        await Gateway.WaitForUsageAsync(client, 1);

        // Spans are exported when they end; the two deliveries end a moment after the ledger shows the usage.
        Activity[] snapshot = [];
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            lock (spans)
            {
                snapshot = [.. spans];
            }

            var ours = snapshot.FirstOrDefault(s => (s.GetTagItem("aimesh.client_request_id") as string) == requestId);
            if (ours is not null && snapshot.Count(s => s.TraceId == ours.TraceId && s.DisplayName.StartsWith("deliver usage/", StringComparison.Ordinal)) >= 2)
            {
                break;
            }

            await Task.Delay(50);
        }

        var chat = Assert.Single(snapshot, s => (s.GetTagItem("aimesh.client_request_id") as string) == requestId);
        Assert.Equal(response.Headers.GetValues("x-aimesh-request-id").Single(), chat.GetTagItem("aimesh.request_id"));
        Assert.Equal("chat gpt-4o-mini", chat.DisplayName);
        var trace = snapshot.Where(s => s.TraceId == chat.TraceId).ToList();
        Assert.Contains(trace, s => s.DisplayName == "validate");
        Assert.Contains(trace, s => s.DisplayName == "quota.reserve");
        Assert.Contains(trace, s => s.DisplayName == "attempt openai");
        Assert.Contains(trace, s => s.Kind == ActivityKind.Client && s.Source.Name == "System.Net.Http");
        Assert.Contains(trace, s => s.DisplayName == "deliver usage/UsageLedger");
        Assert.Contains(trace, s => s.DisplayName == "deliver usage/DeploymentStats");
        Assert.Equal("chat", chat.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("gpt-4o-mini", chat.GetTagItem("gen_ai.request.model"));
        Assert.Equal("openai", chat.GetTagItem("gen_ai.system"));
        Assert.Equal(FakeOpenAiProvider.PromptTokens(fake.Received.First().Body), chat.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(fake.CompletionTokens, chat.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal("openai", chat.GetTagItem("aimesh.deployment"));
    }

    [Fact]
    public async Task Metrics_AfterTraffic_ExposeTheNamedSeriesWithLabels()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var chat = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        using var stream = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(stream: true));
        await stream.Content.ReadAsStringAsync();

        var metrics = await client.GetStringAsync("/metrics");

        Assert.Matches("ai_provider_requests_total\\{[^}]*deployment=\"openai\"[^}]*provider=\"openai\"[^}]*status=\"200\"", metrics);
        Assert.Contains("ai_provider_circuit_breaker_state{", metrics, StringComparison.Ordinal);
        Assert.Contains("aimesh_gateway_overhead_seconds_bucket{", metrics, StringComparison.Ordinal);
        Assert.Contains("gen_ai_client_token_usage", metrics, StringComparison.Ordinal);
        Assert.Contains("gen_ai_client_operation_duration", metrics, StringComparison.Ordinal);
        Assert.Contains("gen_ai_server_time_to_first_token", metrics, StringComparison.Ordinal);
        Assert.True(double.Parse(chat.Headers.GetValues("x-aimesh-overhead-ms").Single(), System.Globalization.CultureInfo.InvariantCulture) >= 0);
    }

    [Fact]
    public async Task Logs_CarryRequestFieldsButNeverPromptsCompletionsOrKeys()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        fake.Reply = "The secret answer is forty-two.";
        var logs = new CapturingLoggerProvider();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake), logs: logs);
        using var client = gateway.CreateClient();
        const string prompt = "Tell me the confidential launch codes please";

        using var response = await client.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody(prompt));
        var requestId = response.Headers.GetValues("x-request-id").Single();
        await Gateway.WaitForUsageAsync(client, 1);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var completed = Assert.Single(logs.Lines, l => l.Contains("[request_success]", StringComparison.Ordinal));
        foreach (var field in new[] { "EventName=request_success", $"RequestId={requestId}", "TenantId=master", "Model=gpt-4o-mini", "DeploymentId=openai", "Status=200", "Attempts=1", "CostUsd=", "LatencyMs=", "Cache=bypass" })
        {
            Assert.True(completed.Contains(field, StringComparison.Ordinal), completed);
        }

        Assert.DoesNotContain(prompt, logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(fake.Reply, logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(Gateway.ProviderKey, logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(EmbeddedGateway.MasterKey, logs.AllText, StringComparison.Ordinal);
    }
}
