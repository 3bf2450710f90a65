using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.Testing.Dapr;

namespace AiMesh.Tests.Dapr;

/// <summary>The event port over a real DaprClient (gRPC PublishEvent) against the fake sidecar.</summary>
public sealed class DaprEventPublisherTests
{
    [Fact]
    public async Task PublishAsync_UsageEvent_PublishesJsonOnPubsubComponentAndTopic()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprEventPublisher(dapr);
        var usage = new UsageEvent
        {
            RequestId = "req-1",
            TenantId = "t1",
            Model = "gpt-4o-mini",
            DeploymentId = "openai",
            PromptTokens = 12,
            CompletionTokens = 5,
            CostUsd = 0.0000048m,
            Status = 200,
            Timestamp = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero),
        };

        await sut.PublishAsync(Topics.Usage, usage, CancellationToken.None);

        var published = Assert.Single(sidecar.Published);
        Assert.Equal("pubsub", published.PubsubName);
        Assert.Equal("usage", published.Topic);
        Assert.Equal("application/json", published.DataContentType);
        var data = JsonNode.Parse(published.Data)!;
        Assert.Equal("req-1", data["requestId"]?.GetValue<string>());
        Assert.Equal("t1", data["tenantId"]?.GetValue<string>());
        Assert.Equal(12, data["promptTokens"]?.GetValue<int>());
        Assert.Equal(0.0000048m, data["costUsd"]?.GetValue<decimal>());
        Assert.Equal(usage.Timestamp, data["timestamp"]?.GetValue<DateTimeOffset>());
    }
}
