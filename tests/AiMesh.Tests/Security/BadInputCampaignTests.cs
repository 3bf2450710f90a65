using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using AiMesh.Testing;
using AiMesh.Tests.EndToEnd;

namespace AiMesh.Tests.Security;

/// <summary>
/// More than a thousand malformed or hostile requests against every public and admin endpoint:
/// every answer is a 4xx in the surface's shape, nothing is a 5xx, the host stays healthy and the
/// ledger does not change.
/// </summary>
public sealed class BadInputCampaignTests
{
    private sealed record Attack(HttpMethod Method, string Path, HttpContent? Body, string Label);

    private static readonly string[] BodyPaths =
    [
        "/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/admin/tenants", "/admin/tenants/acme", "/admin/tenants/acme/keys", "/admin/deployments/backup",
    ];

    private static StringContent Json(string text) => new StringContent(text, Encoding.UTF8, "application/json");

    private static ByteArrayContent Bytes(byte[] bytes, string contentType = "application/json")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return content;
    }

    private static IEnumerable<Attack> Attacks()
    {
        var random = new Random(20261123);
        var validChat = Gateway.ChatBody("A perfectly normal question about the weather").ToJsonString();
        const string validTenant = "{\"id\":\"acme\",\"name\":\"Acme\",\"allowedModels\":[\"gpt-4o-mini\"],\"limits\":{\"requestsPerMinute\":10},\"contentPolicy\":{\"screening\":\"block\",\"pii\":\"redact\"}}";
        var valid = new Dictionary<string, string>
        {
            ["/v1/chat/completions"] = validChat,
            ["/v1/messages"] = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"A normal question\"}]}",
            ["/v1/embeddings"] = "{\"model\":\"text-embedding-3-small\",\"input\":[\"one text\",\"another text\"]}",
            ["/admin/deployments/backup"] = "{\"provider\":\"openai-compatible\",\"baseUrl\":\"http://127.0.0.1:9/v1\",\"model\":\"m\",\"aliases\":[\"a\"],\"capabilities\":{\"vision\":true}}",
        };
        foreach (var path in BodyPaths)
        {
            var validBody = valid.GetValueOrDefault(path, validTenant);
            var method = path is "/admin/tenants/acme" or "/admin/deployments/backup" ? HttpMethod.Put : HttpMethod.Post;
            // Every proper prefix of a JSON object is invalid JSON.
            for (var i = 0; i < 160; i++)
            {
                var cut = random.Next(0, validBody.Length - 1);
                yield return new Attack(method, path, Json(validBody[..cut]), $"truncated at {cut}");
            }

            // An unescaped control character is invalid anywhere in JSON.
            for (var i = 0; i < 90; i++)
            {
                var bytes = Encoding.UTF8.GetBytes(validBody);
                bytes[random.Next(bytes.Length)] = 0x01;
                yield return new Attack(method, path, Bytes(bytes), "control character");
            }

            foreach (var (text, label) in new[]
            {
                (string.Empty, "empty"), ("null", "null"), ("[]", "array"), ("\"text\"", "string"), ("42", "number"),
                (new string('[', 5000) + new string(']', 5000), "deeply nested"),
                ("{\"model\": 5, \"messages\": {}}", "wrong types"), ("{\"id\": 123, \"limits\": \"many\"}", "wrong types"),
                ("{\"model\":\"gpt-4o-mini\",\"max_tokens\":1e400,\"messages\":[]}", "huge number"),
                ("{\"id\":\"acme\",\"limits\":{\"requestsPerMinute\":99999999999999999999}}", "huge number"),
                ("{\"model\":\"" + new string('m', 1_000_000) + "\",\"messages\":[]}", "huge string"),
                ("{\"id\":\"" + new string('x', 100_000) + "\"}", "huge id"),
                ("{\"id\":\"../../etc/passwd\"}", "path traversal id"),
                ("{\"id\":\"acme\",\"expiresAt\":\"not a date\"}", "bad date"),
                ("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}],\"temperature\":-1}", "out of range"),
            })
            {
                yield return new Attack(method, path, Json(text), label);
            }

            yield return new Attack(method, path, Bytes([0xFF, 0xFE, 0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D]), "invalid UTF-8");
            yield return new Attack(method, path, Bytes(new byte[10 * 1024 * 1024]), "10 MB of zeros");
            yield return new Attack(method, path, new StringContent(validBody, Encoding.UTF8, "text/plain"), "wrong content type");
            yield return new Attack(method, path, new StringContent("<xml/>", Encoding.UTF8, "application/xml"), "xml");
        }

        foreach (var id in new[] { "..%2F..%2Fetc%2Fpasswd", "%00", new string('k', 3000), "acme%0d%0aSet-Cookie:x=1", "ünïcödé", "'%20OR%201=1" })
        {
            yield return new Attack(HttpMethod.Get, $"/admin/tenants/{id}", null, "hostile id");
            yield return new Attack(HttpMethod.Delete, $"/admin/keys/{id}", null, "hostile id");
            yield return new Attack(HttpMethod.Get, $"/admin/usage/requests/{id}", null, "hostile id");
            yield return new Attack(HttpMethod.Post, $"/admin/circuit-breakers/{id}/reset", null, "hostile id");
            yield return new Attack(HttpMethod.Get, $"/admin/tenants/{id}/keys", null, "hostile id");
            yield return new Attack(HttpMethod.Delete, $"/admin/deployments/{id}", null, "hostile id");
            yield return new Attack(HttpMethod.Post, $"/admin/deployments/{id}/disable", null, "hostile id");
            yield return new Attack(HttpMethod.Put, $"/admin/deployments/{id}", Json(valid["/admin/deployments/backup"]), "hostile id");
        }

        foreach (var query in new[] { "from=2026-13-45", "from=yesterday", "to=%27%20OR%201%3D1", "groupBy=planet", "groupBy=" + new string(',', 2000) + "x", "from=2020-01-01&to=2026-01-01" })
        {
            yield return new Attack(HttpMethod.Get, $"/admin/usage?{query}", null, "bad query");
            yield return new Attack(HttpMethod.Get, $"/admin/costs?{query}", null, "bad query");
        }

        foreach (var month in new[] { "2026-13", "26-11", "november", "%00" })
        {
            yield return new Attack(HttpMethod.Get, $"/admin/budget-alerts?month={month}", null, "bad month");
            yield return new Attack(HttpMethod.Get, $"/admin/health-alerts?month={month}", null, "bad month");
        }

        yield return new Attack(HttpMethod.Delete, "/admin/cache?tenant=a&alias=b", null, "both filters");
        yield return new Attack(HttpMethod.Get, "/v1/chat/completions", null, "wrong method");
    }

    [Fact]
    public async Task Campaign_EveryAnswerIsA4xxInTheRightShape_AndTheHostIsUnharmed()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Security:MaxFailedAuthentications"] = "100000";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var admin = gateway.CreateClient();
        using (var create = await admin.PostAsJsonAsync("/admin/tenants", new { id = "acme" }))
        {
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        }

        var failures = new List<string>();
        var count = 0;
        foreach (var attack in Attacks())
        {
            count++;
            using var request = new HttpRequestMessage(attack.Method, attack.Path) { Content = attack.Body };
            using var response = await admin.SendAsync(request);
            var status = (int)response.StatusCode;
            var body = await response.Content.ReadAsStringAsync();
            if (status is < 400 or >= 500)
            {
                failures.Add($"{attack.Method} {attack.Path[..Math.Min(80, attack.Path.Length)]} ({attack.Label}) → {status}");
                continue;
            }

            var mediaType = response.Content.Headers.ContentType?.MediaType;
            var shaped = attack.Path.StartsWith("/v1/", StringComparison.Ordinal)
                ? mediaType == "application/json" && JsonNode.Parse(body)?["error"]?["message"] is not null
                : body.Length == 0 || mediaType == "application/problem+json";
            if (!shaped)
            {
                failures.Add($"{attack.Method} {attack.Path[..Math.Min(80, attack.Path.Length)]} ({attack.Label}) → {status} in the wrong shape: {mediaType} {body[..Math.Min(120, body.Length)]}");
            }
        }

        using var anonymous = gateway.CreateClient(key: null);
        using var ready = await anonymous.GetAsync("/health/ready");
        using var chat = await admin.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
        var usage = await Gateway.WaitForUsageAsync(admin, 1);
        var deployments = JsonNode.Parse(await admin.GetStringAsync("/admin/deployments"))!.AsArray();

        Assert.True(count >= 1000, $"only {count} attacks");
        Assert.Equal("openai", Assert.Single(deployments)!["id"]!.GetValue<string>());
        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(30)));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Single(fake.Received);
        Assert.Equal(1, usage["total"]!["requests"]!.GetValue<long>());
    }

    [Theory]
    [InlineData("""{"id":"acme","limits":{"requestsPerMinute":"many"}}""", "at $.limits.requestsPerMinute")]
    [InlineData("""{"id":"acme","colour":"red"}""", "'colour' is not a known field (at $.colour)")]
    [InlineData("""{"id":"acme",""", "not valid JSON")]
    public async Task AdminBodyErrors_SayWhatAndWhere_WithoutAnErrorLog(string body, string expected)
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var logs = new CapturingLoggerProvider();
        await using var gateway = await EmbeddedGateway.StartAsync(Gateway.OpenAiSettings(fake), logs: logs);
        using var admin = gateway.CreateClient();

        using var response = await admin.PostAsync("/admin/tenants", Json(body));
        var problem = (await response.Content.ReadFromJsonAsync<JsonNode>())!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(expected, problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain("System.", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FailedAuthentications_FromOneAddress_AreCutOffWith429()
    {
        await using var fake = await FakeOpenAiProvider.StartAsync();
        var settings = Gateway.OpenAiSettings(fake);
        settings["AiMesh:Security:MaxFailedAuthentications"] = "5";
        await using var gateway = await EmbeddedGateway.StartAsync(settings);
        using var guesser = gateway.CreateClient("sk-aimesh-guess");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 7; i++)
        {
            using var response = await guesser.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());
            statuses.Add(response.StatusCode);
        }

        using var blocked = await guesser.PostAsJsonAsync("/v1/chat/completions", Gateway.ChatBody());

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), statuses.Take(5));
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        Assert.NotNull(blocked.Headers.RetryAfter);
        Assert.Equal("too_many_failed_authentications", (await blocked.Content.ReadFromJsonAsync<JsonNode>())?["error"]?["code"]?.GetValue<string>());
    }

    [Fact]
    public async Task Responses_CarrySecurityHeaders_AndNoCorsUnlessConfigured()
    {
        await using var gateway = await EmbeddedGateway.StartAsync(new Dictionary<string, string?> { ["OPENAI_BASE_URL"] = "http://127.0.0.1:1/v1" });
        using var client = gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("Origin", "https://evil.example");

        using var response = await client.SendAsync(request);

        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(response.Headers.Contains("Server"));
    }
}
