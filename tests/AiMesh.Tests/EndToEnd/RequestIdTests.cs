using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Router.Pipeline;
using AiMesh.Testing;

namespace AiMesh.Tests.EndToEnd;

/// <summary>
/// The caller's x-request-id is echoed, but AiMesh keys the ledger and the quota by an id of its own:
/// a caller repeating its id (a retrying client, or one trying to) still has every request counted.
/// </summary>
public sealed class RequestIdTests
{
    private static async Task<HttpResponseMessage> ChatAsync(HttpClient client, string? callerId, string content = "Say hello to the test suite please", bool stream = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Gateway.ChatBody(content, stream)) };
        if (callerId is not null)
        {
            request.Headers.Add("x-request-id", callerId);
        }

        return await client.SendAsync(request);
    }

    private static string Header(HttpResponseMessage response, string name) => response.Headers.GetValues(name).Single();

    [Fact]
    public async Task RepeatedCallerId_EveryRequestIsRecordedAndCharged()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        // Three after one another, then five at once, all with the same id (streamed ones too).
        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(await ChatAsync(client, "same-id-7", $"sequential {i}"));
        }

        answers.AddRange(await Task.WhenAll(Enumerable.Range(0, 5).Select(i => ChatAsync(client, "same-id-7", $"concurrent {i}", stream: i % 2 == 0))));
        foreach (var answer in answers)
        {
            await answer.Content.ReadAsStringAsync();
        }

        var usage = await Gateway.WaitForUsageAsync(client, answers.Count);

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        Assert.All(answers, a => Assert.Equal("same-id-7", Header(a, "x-request-id")));
        var ids = answers.Select(a => Header(a, RequestIds.AiMeshHeader)).ToList();
        Assert.Equal(answers.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(answers.Count, usage["total"]!["requests"]!.GetValue<long>());
        // Each record is found by AiMesh's id, names the caller's, and was charged (streamed answers carry no cost header).
        var charged = 0m;
        foreach (var id in ids)
        {
            var record = await client.GetFromJsonAsync<JsonNode>($"/admin/usage/requests/{id}");
            Assert.Equal(id, record!["requestId"]!.GetValue<string>());
            Assert.Equal("same-id-7", record["clientRequestId"]!.GetValue<string>());
            Assert.True(record["costUsd"]!.GetValue<decimal>() > 0);
            charged += record["costUsd"]!.GetValue<decimal>();
        }

        Assert.Equal(charged, usage["total"]!["costUsd"]!.GetValue<decimal>());
        var quota = await client.GetFromJsonAsync<JsonNode>("/admin/tenants/master/quota");
        Assert.Equal(charged, quota!["spentTodayUsd"]!.GetValue<decimal>());
        Assert.Equal(0, quota["openReservations"]!.GetValue<int>());

        answers.ForEach(a => a.Dispose());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not sane: spaces and ; semicolons")]
    public async Task NoOrUnsafeCallerId_BothHeadersCarryAiMeshId(string? presented)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var response = await ChatAsync(client, presented);
        var id = Header(response, RequestIds.AiMeshHeader);
        await Gateway.WaitForUsageAsync(client, 1);
        var record = await client.GetFromJsonAsync<JsonNode>($"/admin/usage/requests/{id}");

        Assert.Equal(id, Header(response, "x-request-id"));
        Assert.Matches("^req_[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$", id);
        Assert.Null(record!["clientRequestId"]);
    }

    [Fact]
    public void New_IdsAreUniqueAndOrderedByTime()
    {
        var before = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        var ids = Enumerable.Range(0, 10_000).Select(_ => RequestIds.New(TimeProvider.System)).ToList();
        var after = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();

        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        var first = long.Parse(ids[0].AsSpan(4, 12), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var last = long.Parse(ids[^1].AsSpan(4, 12), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Assert.InRange(first, before, after);
        Assert.InRange(last, first, after);
    }
}
