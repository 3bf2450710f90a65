using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>OpenAI ⇄ Ollama /api/chat translation, both ways, without a network.</summary>
public sealed class OllamaWireTests
{
    private readonly OllamaWire _sut = new();

    private static JsonObject Chat(params JsonObject[] messages) => new()
    {
        ["model"] = "llama3.2",
        ["messages"] = new JsonArray(messages.Select(m => (JsonNode?)m).ToArray()),
    };

    private static JsonObject Message(string role, JsonNode? content) => new() { ["role"] = role, ["content"] = content };

    private static JsonObject Translate(JsonObject request, bool stream = false) => OllamaWire.TranslateRequest(Request(request), "llama3.2", stream);

    [Theory]
    [InlineData("http://127.0.0.1:11434", "http://127.0.0.1:11434/api/chat")]
    [InlineData("http://gpu-box:11434/api", "http://gpu-box:11434/api/chat")]
    public void BuildRequest_PostsToApiChat(string baseUrl, string expected)
    {
        var request = _sut.BuildRequest(Deployment(ProviderTypes.Ollama, baseUrl, "llama3.2"), Request(Chat(Message("user", "Hi"))), stream: false, apiKey: null);

        Assert.Equal(expected, request.Uri.ToString());
        Assert.Null(request.Header("Authorization"));
        Assert.False(Body(request)["stream"]!.GetValue<bool>());
    }

    [Fact]
    public void BuildRequest_WithAKey_SendsItAsBearerAndStreamsNdjson()
    {
        var request = _sut.BuildRequest(Deployment(ProviderTypes.Ollama, "https://ollama.example"), Request(Chat(Message("user", "Hi"))), stream: true, "secret");

        Assert.Equal("Bearer secret", request.Header("Authorization"));
        Assert.Equal("application/x-ndjson", request.Accept);
        Assert.True(Body(request)["stream"]!.GetValue<bool>());
    }

    [Fact]
    public void TranslateRequest_ImagesToolCallsAndResults_KeepRolesWithImagesAndToolNames()
    {
        var assistant = Message("assistant", null);
        assistant["tool_calls"] = new JsonArray(new JsonObject { ["id"] = "call_1", ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName, ["arguments"] = "{\"city\":\"Oslo\"}" } });
        var result = Message("tool", "-3°C");
        result["tool_call_id"] = "call_1";

        var messages = Translate(Chat(
            Message("developer", "Be brief."),
            Message("user", new JsonArray(
                new JsonObject { ["type"] = "text", ["text"] = "Where is this?" },
                new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = PngDataUrl } })),
            assistant,
            result))["messages"]!.AsArray();

        Assert.Equal(["system", "user", "assistant", "tool"], messages.Select(m => m!["role"]!.GetValue<string>()));
        Assert.Equal("Where is this?", messages[1]!["content"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Png), messages[1]!["images"]![0]!.GetValue<string>());
        Assert.Equal("Oslo", messages[2]!["tool_calls"]![0]!["function"]!["arguments"]!["city"]!.GetValue<string>());
        Assert.Equal("-3°C", messages[3]!["content"]!.GetValue<string>());
        Assert.Equal(ToolName, messages[3]!["tool_name"]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_ImageUrl_IsUnsupported()
    {
        var request = Chat(Message("user", new JsonArray(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "https://example.com/a.png" } })));

        Assert.Equal("messages[0].content", Assert.Throws<UnsupportedRequestException>(() => Translate(request)).Param);
    }

    [Fact]
    public void TranslateRequest_SamplingFields_BecomeOptions()
    {
        var request = Chat(Message("user", "Hi"));
        request["temperature"] = 0.2;
        request["top_p"] = 0.5;
        request["top_k"] = 30;
        request["seed"] = 11;
        request["max_completion_tokens"] = 64;
        request["stop"] = "\n\n";
        request["options"] = new JsonObject { ["num_ctx"] = 8192 };

        var options = Translate(request)["options"]!;

        Assert.Equal(0.2, options["temperature"]!.GetValue<double>());
        Assert.Equal(0.5, options["top_p"]!.GetValue<double>());
        Assert.Equal(30, options["top_k"]!.GetValue<int>());
        Assert.Equal(11, options["seed"]!.GetValue<long>());
        Assert.Equal(64, options["num_predict"]!.GetValue<int>());
        Assert.Equal("\n\n", options["stop"]![0]!.GetValue<string>());
        Assert.Equal(8192, options["num_ctx"]!.GetValue<int>());
    }

    [Fact]
    public void TranslateRequest_ResponseFormats_BecomeFormat()
    {
        var json = Chat(Message("user", "Hi"));
        json["response_format"] = new JsonObject { ["type"] = "json_object" };
        var schema = Chat(Message("user", "Hi"));
        schema["response_format"] = new JsonObject { ["type"] = "json_schema", ["json_schema"] = new JsonObject { ["name"] = "w", ["schema"] = WeatherParameters.DeepClone() } };

        Assert.Equal("json", Translate(json)["format"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(WeatherParameters, Translate(schema)["format"]));
    }

    [Fact]
    public void TranslateRequest_ToolChoiceNone_LeavesTheToolsOut()
    {
        var request = Chat(Message("user", "Hi"));
        request["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName, ["parameters"] = WeatherParameters.DeepClone() } });

        Assert.Equal(ToolName, Translate(request)["tools"]![0]!["function"]!["name"]!.GetValue<string>());
        request["tool_choice"] = "none";
        Assert.Null(Translate(request)["tools"]);
    }

    [Fact]
    public void ReadCompletion_ToolCallsAndCounts_BecomeOpenAiCompletion()
    {
        const string response = """
            {"model":"llama3.2","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"",
             "tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Oslo"}}}]},
             "done_reason":"stop","done":true,"prompt_eval_count":31,"eval_count":12}
            """;

        var result = _sut.ReadCompletion(Encoding.UTF8.GetBytes(response), Context());

        var choice = JsonNode.Parse(result.Completion.GetRawText())!["choices"]![0]!;
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        Assert.Null(choice["message"]!["content"]);
        Assert.Equal("{\"city\":\"Oslo\"}", choice["message"]!["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal(new WireUsage(31, 12, 0), result.Usage);
    }

    [Fact]
    public void ReadCompletion_LengthDoneReason_IsLength()
    {
        const string response = """{"model":"m","message":{"role":"assistant","content":"abc"},"done_reason":"length","done":true,"eval_count":3}""";

        var completion = JsonNode.Parse(_sut.ReadCompletion(Encoding.UTF8.GetBytes(response), Context()).Completion.GetRawText())!;

        Assert.Equal("length", completion["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal("abc", completion["choices"]![0]!["message"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task ReadStream_Ndjson_BecomesChunksWithToolCallAndUsage()
    {
        const string stream = """
            {"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":"Grüße"},"done":false}
            {"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":""},"done":false}

            {"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":" aus Zürich"},"done":false}
            {"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Zürich"}}}]},"done":false}
            {"model":"llama3.2","created_at":"t","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"prompt_eval_count":40,"eval_count":8}

            """;

        var chunks = await ReadStreamAsync(_sut, stream);

        Assert.Equal("Grüße aus Zürich", StreamedText(chunks));
        Assert.Equal("{\"city\":\"Zürich\"}", StreamedArguments(chunks));
        Assert.Equal("tool_calls", FinishReason(chunks));
        Assert.Equal(5, chunks.Count);
        Assert.Equal(new WireUsage(40, 8, 0), chunks[^1].Usage);
    }

    [Fact]
    public async Task ReadStream_ErrorLine_Throws()
    {
        const string stream = "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n{\"error\":\"model runner has unexpectedly stopped\"}\n";

        var error = await Assert.ThrowsAsync<ProviderStreamException>(() => ReadStreamAsync(_sut, stream));

        Assert.Equal("model runner has unexpectedly stopped", error.Error.Message);
    }

    [Fact]
    public async Task ReadStream_EndsWithoutDone_ThrowsIOException()
    {
        await Assert.ThrowsAsync<IOException>(() => ReadStreamAsync(_sut, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n"));
    }

    [Fact]
    public async Task ReadStream_MalformedLine_ThrowsJsonException()
    {
        await Assert.ThrowsAnyAsync<JsonException>(() => ReadStreamAsync(_sut, "{\"model\":\"m\",\"message\":\n"));
    }

    [Fact]
    public void ReadError_StringError_IsTheMessage()
    {
        var error = _sut.ReadError("{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}", 404, null);

        Assert.Equal("model \"llama9\" not found, try pulling it first", error.Message);
        Assert.Equal("invalid_request_error", error.Type);
    }
}
