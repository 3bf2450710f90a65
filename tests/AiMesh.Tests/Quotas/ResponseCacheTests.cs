using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;

namespace AiMesh.Tests.Quotas;

/// <summary>The response cache end to end: hits answer the same body for free, in either dialect of streaming.</summary>
public sealed class ResponseCacheTests
{
    private static JsonObject Deterministic(bool stream = false)
    {
        var body = Gateway.ChatBody("What is the capital of France?", stream);
        body["temperature"] = 0;
        return body;
    }

    private static string Header(HttpResponseMessage response, string name) => response.Headers.GetValues(name).Single();

    private static string StreamedText(string sse) => string.Concat(sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
        .Where(e => e.StartsWith("data: {", StringComparison.Ordinal))
        .Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]?.AsArray().FirstOrDefault()?["delta"]?["content"]?.GetValue<string>()));

    [Fact]
    public async Task SecondIdenticalRequest_IsAHitWithTheSameBodyAndNoCost()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();

        using var miss = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        using var hit = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());

        Assert.Equal("miss", Header(miss, "x-aimesh-cache"));
        Assert.Equal("hit", Header(hit, "x-aimesh-cache"));
        Assert.Equal(await miss.Content.ReadAsStringAsync(), await hit.Content.ReadAsStringAsync());
        Assert.Equal("0", Header(hit, "x-aimesh-cost-usd"));
        Assert.Single(fake.Received);
        var usage = await Gateway.WaitForUsageAsync(client, 2);
        Assert.Equal(1, usage["total"]!["cacheHits"]!.GetValue<long>());
        Assert.Equal(decimal.Parse(Header(miss, "x-aimesh-cost-usd"), System.Globalization.CultureInfo.InvariantCulture), usage["total"]!["costUsd"]!.GetValue<decimal>());
        // Meter listeners are process-wide, so hits of tests running alongside may add to the count.
        Assert.Matches(@"(?m)^aimesh_cache_hits_total(\{[^}]*\})? [1-9][0-9]*( |$)", await client.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task StreamingCaller_OnAHit_GetsTheCachedAnswerReplayedAsSse()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var fill = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        var streaming = Deterministic(stream: true);
        streaming["stream_options"] = new JsonObject { ["include_usage"] = true };

        using var hit = await client.PostAsJsonAsync("/v1/chat/completions", streaming);
        var sse = await hit.Content.ReadAsStringAsync();

        Assert.Equal("hit", Header(hit, "x-aimesh-cache"));
        Assert.Equal("text/event-stream", hit.Content.Headers.ContentType?.MediaType);
        Assert.Equal(fake.Reply, StreamedText(sse));
        Assert.EndsWith("data: [DONE]\n\n", sse, StringComparison.Ordinal);
        Assert.Contains("\"usage\":{", sse, StringComparison.Ordinal);
        Assert.Single(fake.Received);
    }

    [Fact]
    public async Task StreamedMiss_FillsTheCacheForNonStreamingCallers()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var fill = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic(stream: true));
        Assert.Equal(fake.Reply, StreamedText(await fill.Content.ReadAsStringAsync()));

        using var hit = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        var completion = await hit.Content.ReadFromJsonAsync<JsonNode>();

        Assert.Equal("hit", Header(hit, "x-aimesh-cache"));
        Assert.Equal(fake.Reply, completion?["choices"]?[0]?["message"]?["content"]?.GetValue<string>());
        Assert.Equal("stop", completion?["choices"]?[0]?["finish_reason"]?.GetValue<string>());
        Assert.Equal("chat.completion", completion?["object"]?.GetValue<string>());
        Assert.Single(fake.Received);
    }

    [Fact]
    public async Task NoCacheHeader_BypassesTheRead()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var fill = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Deterministic()) };
        request.Headers.CacheControl = new System.Net.Http.Headers.CacheControlHeaderValue { NoCache = true };

        using var bypass = await client.SendAsync(request);

        Assert.Equal("bypass", Header(bypass, "x-aimesh-cache"));
        Assert.Equal(2, fake.Received.Count);
    }

    [Fact]
    public async Task NonDeterministicRequest_IsNotCachedUnlessConfigured()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        var warm = Gateway.ChatBody("Write a poem");
        warm["temperature"] = 0.8;

        using var first = await client.PostAsJsonAsync("/v1/chat/completions", warm);
        using var second = await client.PostAsJsonAsync("/v1/chat/completions", warm);

        Assert.Equal("bypass", Header(second, "x-aimesh-cache"));
        Assert.Equal(2, fake.Received.Count);

        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Cache:CacheNonDeterministic"] = "true";
        await using var cachingAll = await EmbeddedGateway.StartAsync(settings);
        using var cachingClient = cachingAll.CreateClient();
        using var third = await cachingClient.PostAsJsonAsync("/v1/chat/completions", warm);
        using var fourth = await cachingClient.PostAsJsonAsync("/v1/chat/completions", warm);
        Assert.Equal("hit", Header(fourth, "x-aimesh-cache"));
    }

    [Fact]
    public async Task AdminClear_PerTenantOrAlias_MakesTheNextRequestAMiss()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake));
        using var client = gateway.CreateClient();
        using var fill = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        using var hit = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());

        using var clearTenant = await client.DeleteAsync("/admin/cache?tenant=master");
        using var afterTenantClear = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        using var clearAlias = await client.DeleteAsync("/admin/cache?alias=gpt-4o-mini");
        using var afterAliasClear = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        using var clearOtherAlias = await client.DeleteAsync("/admin/cache?alias=another-model");
        using var stillCached = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        using var clearAll = await client.DeleteAsync("/admin/cache");
        using var afterClearAll = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());

        Assert.Equal("hit", Header(hit, "x-aimesh-cache"));
        Assert.Equal(HttpStatusCode.NoContent, clearTenant.StatusCode);
        Assert.Equal("miss", Header(afterTenantClear, "x-aimesh-cache"));
        Assert.Equal("miss", Header(afterAliasClear, "x-aimesh-cache"));
        Assert.Equal("hit", Header(stillCached, "x-aimesh-cache"));
        Assert.Equal("miss", Header(afterClearAll, "x-aimesh-cache"));
    }

    [Fact]
    public async Task Ttl_Zero_ForAnAlias_DisablesCachingForIt()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Cache:Aliases:gpt-4o-mini:Ttl"] = "00:00:00";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();

        using var first = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());
        using var second = await client.PostAsJsonAsync("/v1/chat/completions", Deterministic());

        Assert.Equal("bypass", Header(second, "x-aimesh-cache"));
        Assert.Equal(2, fake.Received.Count);
    }
}
