using System.Text;
using AiMesh.Testing;
using Anthropic;
using Anthropic.Models.Messages;

namespace AiMesh.Tests.Anthropic;

/// <summary>The official Anthropic .NET SDK pointed at AiMesh's <c>/v1/messages</c>, served by an OpenAI-format deployment.</summary>
public sealed class AnthropicSdkTests
{
    [Fact]
    public async Task Create_OpenAiDeployment_ReturnsTextMessageWithUsage()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(AiMesh.Tests.Providers.ProviderTestSupport.Settings("openai", "gpt-4o-mini", "plain-test-key-7f3a9c", ("primary", fake.BaseUrl)));
        var client = Client(gateway);

        var message = await client.Messages.Create(Parameters());

        Assert.StartsWith("msg_", message.ID, StringComparison.Ordinal);
        Assert.True(Assert.Single(message.Content).TryPickText(out var text));
        Assert.Equal(fake.Reply, text!.Text);
        Assert.Equal(fake.CompletionTokens, message.Usage.OutputTokens);
        Assert.True(message.Usage.InputTokens > 0);
        Assert.Equal("end_turn", message.StopReason?.Raw().ToString());
    }

    [Fact]
    public async Task CreateStreaming_OpenAiDeployment_StreamsTextAndUsage()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(AiMesh.Tests.Providers.ProviderTestSupport.Settings("openai", "gpt-4o-mini", "plain-test-key-7f3a9c", ("primary", fake.BaseUrl)));
        var client = Client(gateway);
        var text = new StringBuilder();
        long? outputTokens = null;
        var stops = 0;

        await foreach (var streamEvent in client.Messages.CreateStreaming(Parameters()))
        {
            if (streamEvent.TryPickContentBlockDelta(out var delta) && delta!.Delta.TryPickText(out var textDelta))
            {
                text.Append(textDelta!.Text);
            }
            else if (streamEvent.TryPickDelta(out var messageDelta))
            {
                outputTokens = messageDelta!.Usage.OutputTokens;
            }
            else if (streamEvent.TryPickStop(out _))
            {
                stops++;
            }
        }

        Assert.Equal(fake.Reply, text.ToString());
        Assert.Equal(fake.CompletionTokens, outputTokens);
        Assert.Equal(1, stops);
    }

    [Fact]
    public async Task CountTokens_CountsTheRequestWithoutCallingTheProvider()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(AiMesh.Tests.Providers.ProviderTestSupport.Settings("openai", "gpt-4o-mini", "plain-test-key-7f3a9c", ("primary", fake.BaseUrl)));
        var client = Client(gateway);
        MessageCountTokensParams Count(string text) => new()
        {
            Messages = [new UserMessageParam(text)],
            Model = "gpt-4o-mini",
            System = "You are terse.",
        };

        var shorter = await client.Messages.CountTokens(Count("Say hello to the test suite please"));
        var longer = await client.Messages.CountTokens(Count(string.Concat(Enumerable.Repeat("Say hello to the test suite please. ", 20))));

        Assert.InRange(shorter.InputTokens, 10, 40);
        Assert.InRange(longer.InputTokens - shorter.InputTokens, 19 * 6, 19 * 9);
        Assert.Empty(fake.Received);
    }

    private static AnthropicClient Client(EmbeddedGateway gateway) => new()
    {
        ApiKey = EmbeddedGateway.MasterKey,
        BaseUrl = gateway.BaseUrl,
        MaxRetries = 0,
    };

    private static MessageCreateParams Parameters() => new()
    {
        MaxTokens = 256,
        Messages = [new UserMessageParam("Say hello to the test suite please")],
        Model = "gpt-4o-mini",
    };
}
