using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AiMesh.Testing;

namespace AiMesh.Tests.EndToEnd;

/// <summary>Helpers shared by the end-to-end tests: each test starts its own fake provider and gateway.</summary>
public static class Gateway
{
    public const string ProviderKey = "sk-test-provider-key-abcdef0123456789";

    public static Dictionary<string, string?> OpenAiSettings(FakeOpenAiProvider fake) => new()
    {
        ["OPENAI_API_KEY"] = ProviderKey,
        ["OPENAI_BASE_URL"] = fake.BaseUrl,
    };

    public static JsonObject ChatBody(string content = "Say hello to the test suite please", bool stream = false, string model = "gpt-4o-mini") => new()
    {
        ["model"] = model,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content }),
        ["stream"] = stream,
    };

    /// <summary>Cost of gpt-4o-mini at list price (0.15 / 0.60 USD per million tokens).</summary>
    public static decimal MiniCost(int prompt, int completion) => ((prompt * 0.15m) + (completion * 0.60m)) / 1_000_000m;

    /// <summary>Polls the admin usage endpoint until the ledger holds <paramref name="requests"/> requests (events arrive asynchronously).</summary>
    public static async Task<JsonNode> WaitForUsageAsync(HttpClient admin, long requests, string query = "")
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        JsonNode? usage = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            usage = await admin.GetFromJsonAsync<JsonNode>($"/admin/usage{query}");
            if (usage?["total"]?["requests"]?.GetValue<long>() >= requests)
            {
                return usage;
            }

            await Task.Delay(50);
        }

        throw new Xunit.Sdk.XunitException($"The ledger did not reach {requests} requests in time; last answer: {usage?.ToJsonString()}");
    }
}
