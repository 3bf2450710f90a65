using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using AiMesh.Testing;
using OpenAI;
using OpenAI.Chat;

namespace AiMesh.Tests.Providers;

/// <summary>Shared helpers for the provider wire tests: requests, deployments, stream reading, the gateway set-up.</summary>
public static class ProviderTestSupport
{
    public const string ToolName = "get_weather";

    /// <summary>A 1×1 PNG.</summary>
    public static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==");

    public static string PngDataUrl => "data:image/png;base64," + Convert.ToBase64String(Png);

    public static readonly JsonObject WeatherParameters = new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject
        {
            ["city"] = new JsonObject { ["type"] = "string", ["description"] = "City name" },
            ["unit"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("celsius", "fahrenheit") },
        },
        ["required"] = new JsonArray("city"),
        ["additionalProperties"] = false,
    };

    public static DeploymentConfig Deployment(string provider, string baseUrl, string model = "test-model", Action<DeploymentOptions>? configure = null)
    {
        var options = new DeploymentOptions { Id = provider + "-test", Provider = provider, BaseUrl = baseUrl, Model = model };
        configure?.Invoke(options);
        return ProviderCatalog.Freeze(options);
    }

    /// <summary>An OpenAI request from its JSON text (as the router hands it on).</summary>
    public static ChatCompletionRequest Request(string json) => JsonSerializer.Deserialize<ChatCompletionRequest>(json, AiMeshJson.Options)!;

    public static ChatCompletionRequest Request(JsonObject json) => Request(json.ToJsonString());

    public static JsonNode Body(WireRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return JsonNode.Parse(request.Body)!;
    }

    public static WireContext Context(string model = "test-model", string? apiKey = null) => new(model, 1_700_000_000, apiKey);

    /// <summary>Reads a whole translated stream from the given wire bytes.</summary>
    public static async Task<List<WireChunk>> ReadStreamAsync(IProviderWire wire, string wireText, WireContext? context = null)
    {
        ArgumentNullException.ThrowIfNull(wire);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(wireText));
        var chunks = new List<WireChunk>();
        await foreach (var chunk in wire.ReadStreamAsync(stream, context ?? Context(), CancellationToken.None))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }

    /// <summary>The text the content deltas of OpenAI chunks add up to.</summary>
    public static string StreamedText(IEnumerable<WireChunk> chunks) =>
        string.Concat(chunks.Select(c => JsonNode.Parse(c.Json)!["choices"]!.AsArray().FirstOrDefault()?["delta"]?["content"]?.GetValue<string>()));

    /// <summary>The arguments the tool-call deltas of OpenAI chunks add up to, for one tool call index.</summary>
    public static string StreamedArguments(IEnumerable<WireChunk> chunks, int index = 0) =>
        string.Concat(chunks.SelectMany(c => JsonNode.Parse(c.Json)!["choices"]!.AsArray())
            .SelectMany(choice => choice?["delta"]?["tool_calls"]?.AsArray() ?? [])
            .Where(call => call?["index"]?.GetValue<int>() == index)
            .Select(call => call?["function"]?["arguments"]?.GetValue<string>()));

    public static string? FinishReason(IEnumerable<WireChunk> chunks) =>
        chunks.Select(c => JsonNode.Parse(c.Json)!["choices"]!.AsArray().FirstOrDefault()?["finish_reason"]?.GetValue<string>()).LastOrDefault(f => f is not null);

    // ---- end to end ----

    /// <summary>USD per million tokens the end-to-end deployments are priced at.</summary>
    public const decimal InputPrice = 3m;
    public const decimal OutputPrice = 15m;
    public const decimal CachedPrice = 0.3m;

    /// <summary>Settings for deployments of one provider type in the configuration-file form, priced, with the key in a secret.</summary>
    public static Dictionary<string, string?> Settings(string provider, string model, string key, params (string Id, string BaseUrl)[] deployments)
    {
        ArgumentNullException.ThrowIfNull(deployments);
        var settings = new Dictionary<string, string?> { ["TEST_PROVIDER_KEY"] = key };
        for (var i = 0; i < deployments.Length; i++)
        {
            var at = $"AiMesh:Deployments:{i}";
            settings[$"{at}:Id"] = deployments[i].Id;
            settings[$"{at}:Provider"] = provider;
            settings[$"{at}:BaseUrl"] = deployments[i].BaseUrl;
            settings[$"{at}:Model"] = model;
            settings[$"{at}:ApiKeySecret"] = "test-provider-key";
            settings[$"{at}:Priority"] = i.ToString(CultureInfo.InvariantCulture);
            settings[$"{at}:InputPricePerMillion"] = InputPrice.ToString(CultureInfo.InvariantCulture);
            settings[$"{at}:OutputPricePerMillion"] = OutputPrice.ToString(CultureInfo.InvariantCulture);
            settings[$"{at}:CachedInputPricePerMillion"] = CachedPrice.ToString(CultureInfo.InvariantCulture);
            settings[$"{at}:Resilience:MaxRetries"] = "0";
            settings[$"{at}:Resilience:BreakerMinimumThroughput"] = "4";
            settings[$"{at}:Resilience:BreakerBreakDuration"] = "00:01:00";
        }

        return settings;
    }

    /// <summary>The cost the gateway must report at the end-to-end prices, as its header writes it.</summary>
    public static decimal Cost(int prompt, int cached, int completion) =>
        Math.Round((((prompt - cached) * InputPrice) + (cached * CachedPrice) + (completion * OutputPrice)) / 1_000_000m, 10);

    public static ChatClient Sdk(EmbeddedGateway gateway, string model)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        return new ChatClient(model, new ApiKeyCredential(EmbeddedGateway.MasterKey), new OpenAIClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });
    }

    /// <summary>A system prompt and a user message with text and an image (base64 PNG).</summary>
    public static List<OpenAI.Chat.ChatMessage> WeatherMessages(string question = "What is the weather where this picture was taken?") =>
    [
        new SystemChatMessage("You are a terse weather assistant."),
        new UserChatMessage(
            ChatMessageContentPart.CreateTextPart(question),
            ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(Png), "image/png")),
    ];

    public static ChatCompletionOptions WeatherTool() => new()
    {
        Tools = { ChatTool.CreateFunctionTool(ToolName, "Current weather of a city", BinaryData.FromString(WeatherParameters.ToJsonString())) },
        ToolChoice = ChatToolChoice.CreateAutoChoice(),
    };

    /// <summary>A chat request body with the tool and the image, for raw HTTP calls.</summary>
    public static JsonObject WeatherBody(string model, bool stream, string question = "What is the weather where this picture was taken?")
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "You are a terse weather assistant." },
                new JsonObject
                {
                    ["role"] = "user",
                    ["content"] = new JsonArray(
                        new JsonObject { ["type"] = "text", ["text"] = question },
                        new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = PngDataUrl } }),
                }),
            ["tools"] = new JsonArray(new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = ToolName, ["description"] = "Current weather of a city", ["parameters"] = WeatherParameters.DeepClone() },
            }),
            ["stream"] = stream,
        };
        if (stream)
        {
            body["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        return body;
    }

    /// <summary>What the SDK's streaming updates add up to.</summary>
    public sealed class StreamedAnswer
    {
        public StringBuilder Text { get; } = new();
        public StringBuilder Arguments { get; } = new();
        public string? ToolCallId { get; set; }
        public string? FunctionName { get; set; }
        public ChatFinishReason? FinishReason { get; set; }
        public ChatTokenUsage? Usage { get; set; }
        public int Updates { get; set; }

        public static async Task<StreamedAnswer> ReadAsync(AsyncCollectionResult<StreamingChatCompletionUpdate> updates)
        {
            ArgumentNullException.ThrowIfNull(updates);
            var answer = new StreamedAnswer();
            await foreach (var update in updates)
            {
                answer.Updates++;
                foreach (var part in update.ContentUpdate)
                {
                    answer.Text.Append(part.Text);
                }

                foreach (var call in update.ToolCallUpdates)
                {
                    answer.ToolCallId ??= call.ToolCallId;
                    answer.FunctionName ??= call.FunctionName;
                    if (call.FunctionArgumentsUpdate is { } fragment && !fragment.ToMemory().IsEmpty)
                    {
                        answer.Arguments.Append(fragment.ToString());
                    }
                }

                answer.FinishReason = update.FinishReason ?? answer.FinishReason;
                answer.Usage = update.Usage ?? answer.Usage;
            }

            return answer;
        }
    }

    public static string? Header(PipelineResponse response, string name) =>
        response is not null && response.Headers.TryGetValue(name, out var value) ? value : null;

    public static string? Header(HttpResponseMessage response, string name) =>
        response is not null && response.Headers.TryGetValues(name, out var values) ? values.First() : null;

    /// <summary>The <c>data:</c> payloads of an SSE body, and the cost comment.</summary>
    public static (List<string> Data, decimal? Cost) ParseSse(string body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var data = new List<string>();
        decimal? cost = null;
        foreach (var line in body.Split('\n'))
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Add(line["data: ".Length..]);
            }
            else if (line.StartsWith(": x-aimesh-cost-usd=", StringComparison.Ordinal))
            {
                cost = decimal.Parse(line[": x-aimesh-cost-usd=".Length..], CultureInfo.InvariantCulture);
            }
        }

        return (data, cost);
    }
}
