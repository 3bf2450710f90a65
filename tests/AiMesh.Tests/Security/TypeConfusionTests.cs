using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;
using static AiMesh.Tests.Security.JsonMutations;

namespace AiMesh.Tests.Security;

/// <summary>
/// Rich, valid requests to each public endpoint with one value at a time replaced by a value of another
/// JSON kind (null, numbers, strings, arrays, objects, booleans): some replacements are still valid, but
/// none may make AiMesh answer 5xx, and every refusal is in the surface's error shape.
/// </summary>
public sealed class TypeConfusionTests
{
    private const string Chat = """
        {"model":"gpt-4o-mini","temperature":0.5,"top_p":1,"n":1,"max_tokens":50,"stop":["END"],"seed":7,"user":"u1",
         "stream_options":null,"response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}},
         "logit_bias":{"50256":-100},"logprobs":true,"top_logprobs":2,"parallel_tool_calls":false,
         "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
         "tool_choice":{"type":"function","function":{"name":"get_weather"}},
         "messages":[
           {"role":"system","content":"Be terse."},
           {"role":"user","content":[{"type":"text","text":"What is here?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}},
                                     {"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]},
           {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Bern\"}"}}]},
           {"role":"tool","tool_call_id":"call_1","content":"21 C"},
           {"role":"user","content":"Thanks","name":"alice"}]}
        """;

    private const string Messages = """
        {"model":"gpt-4o-mini","max_tokens":50,"temperature":0.5,"top_p":1,"top_k":5,"stop_sequences":["END"],"metadata":{"user_id":"u1"},
         "system":[{"type":"text","text":"Be terse."}],
         "tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
         "tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true},
         "messages":[
           {"role":"user","content":[{"type":"text","text":"What is here?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
           {"role":"assistant","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Bern"}}]},
           {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"21 C"}],"is_error":false},{"type":"text","text":"Thanks"}]}]}
        """;

    private const string Embeddings = """{"model":"text-embedding-3-small","input":["one text","another text"],"encoding_format":"float","dimensions":8,"user":"u1"}""";

    [Theory]
    [InlineData("/v1/chat/completions", Chat, false)]
    [InlineData("/v1/chat/completions", Chat, true)]
    [InlineData("/v1/messages", Messages, false)]
    [InlineData("/v1/messages", Messages, true)]
    [InlineData("/v1/messages/count_tokens", Messages, false)]
    [InlineData("/v1/embeddings", Embeddings, false)]
    public async Task EveryValueReplacedByAnotherKind_IsNeverA5xx(string path, string valid, bool stream)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Quotas:Default:RequestsPerMinute"] = "1000000";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        var original = JsonNode.Parse(valid)!;
        if (stream)
        {
            original["stream"] = true;
            if (path == "/v1/chat/completions")
            {
                original["stream_options"] = new JsonObject { ["include_usage"] = true };
            }

            valid = original.ToJsonString();
        }

        var failures = new List<string>();
        var count = 0;

        using (var baseline = await client.PostAsync(path, new StringContent(valid, Encoding.UTF8, "application/json")))
        {
            Assert.True(baseline.StatusCode == HttpStatusCode.OK, $"the unchanged request: {(int)baseline.StatusCode} {await baseline.Content.ReadAsStringAsync()}");
        }

        foreach (var location in Locations(original))
        {
            foreach (var replacement in Replacements)
            {
                count++;
                var body = Replace(original, location, JsonNode.Parse(replacement)).ToJsonString();
                using var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
                var status = (int)response.StatusCode;
                var text = await response.Content.ReadAsStringAsync();
                if (status >= 500)
                {
                    failures.Add($"{Describe(location)} = {replacement} → {status} {text[..Math.Min(160, text.Length)]}");
                }
                else if (status >= 400 && JsonNode.Parse(text)?["error"]?["message"] is null)
                {
                    failures.Add($"{Describe(location)} = {replacement} → {status} in the wrong shape: {text[..Math.Min(160, text.Length)]}");
                }
            }
        }

        Assert.True(count >= 50, $"only {count} requests");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count}:\n" + string.Join('\n', failures.Take(30)));
    }

    private const string Tenant = """
        {"id":"acme","name":"Acme","allowedModels":["gpt-4o-mini"],
         "limits":{"requestsPerMinute":10,"burstRequests":5,"requestsPerHour":100,"tokensPerMinute":1000,"dailyBudgetUsd":1.5,"monthlyBudgetUsd":10},
         "contentPolicy":{"screening":"block","pii":"redact","logPrompts":false}}
        """;

    private const string Key = """{"name":"ci","allowedModels":["gpt-4o-mini"],"limits":{"requestsPerMinute":10,"dailyBudgetUsd":1},"expiresAt":"2099-01-01T00:00:00Z"}""";

    private const string Deployment = """
        {"provider":"openai-compatible","baseUrl":"http://127.0.0.1:9/v1","model":"m","aliases":["a"],"apiKeys":["sk-test-123456"],
         "priority":1,"weight":2,"enabled":true,"inputPricePerMillion":0.5,"outputPricePerMillion":1.5,"cachedInputPricePerMillion":0.1,
         "capabilities":{"vision":true,"tools":true,"jsonMode":true,"contextWindow":8192,"embeddings":false}}
        """;

    /// <summary>
    /// The admin bodies the same way: a refusal is ProblemDetails, never a 5xx. Each request goes to a path of
    /// its own (a new tenant id, a new deployment id), so a mutation that is still valid creates rather than conflicts.
    /// </summary>
    [Theory]
    [InlineData("POST", "/admin/tenants", Tenant)]
    [InlineData("PUT", "/admin/tenants/acme", Tenant)]
    [InlineData("POST", "/admin/tenants/acme/keys", Key)]
    [InlineData("PUT", "/admin/deployments/d{n}", Deployment)]
    public async Task EveryAdminValueReplacedByAnotherKind_IsNeverA5xx(string method, string path, string valid)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AIMESH_ENCRYPTION_KEY"] = Catalog.KeyEncryptionTests.KeyOne;
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var client = gateway.CreateClient();
        using (var create = await client.PostAsync("/admin/tenants", new StringContent("""{"id":"acme"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        }

        var original = JsonNode.Parse(valid)!;
        var failures = new List<string>();
        var count = 0;
        foreach (var location in Locations(original).Prepend([]))
        {
            foreach (var replacement in location.Length == 0 ? ["unchanged"] : Replacements)
            {
                count++;
                var body = location.Length == 0 ? original.DeepClone() : Replace(original, location, JsonNode.Parse(replacement));
                if (path == "/admin/tenants" && body is JsonObject tenant && tenant["id"] is JsonValue id && id.TryGetValue<string>(out var name) && name == "acme")
                {
                    tenant["id"] = $"t{count}";
                }

                using var request = new HttpRequestMessage(new HttpMethod(method), path.Replace("{n}", count.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))
                {
                    Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
                };
                using var response = await client.SendAsync(request);
                var status = (int)response.StatusCode;
                var text = await response.Content.ReadAsStringAsync();
                if (location.Length == 0 && status >= 300)
                {
                    failures.Add($"the unchanged body → {status} {text[..Math.Min(200, text.Length)]}");
                }
                else if (status >= 500)
                {
                    failures.Add($"{Describe(location)} = {replacement} → {status} {text[..Math.Min(160, text.Length)]}");
                }
                else if (status >= 400 && response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                {
                    failures.Add($"{Describe(location)} = {replacement} → {status} as {response.Content.Headers.ContentType?.MediaType}: {text[..Math.Min(160, text.Length)]}");
                }
            }
        }

        Assert.True(count >= 50, $"only {count} requests");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count}:\n" + string.Join('\n', failures.Take(30)));
    }
}
