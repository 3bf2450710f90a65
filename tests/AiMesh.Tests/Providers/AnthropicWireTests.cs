using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>OpenAI ⇄ Anthropic Messages translation, both ways, without a network.</summary>
public sealed class AnthropicWireTests
{
    private readonly AnthropicWire _sut = new();

    private static JsonObject Translate(JsonObject request, bool stream = false) =>
        AnthropicWire.TranslateRequest(Request(request), "claude-sonnet-4-5", stream);

    private static JsonObject Chat(params JsonObject[] messages) => new()
    {
        ["model"] = "claude",
        ["messages"] = new JsonArray(messages.Select(m => (JsonNode?)m).ToArray()),
    };

    private static JsonObject Message(string role, JsonNode? content) => new() { ["role"] = role, ["content"] = content };

    [Fact]
    public void BuildRequest_PostsToMessagesWithKeyAndVersionHeaders()
    {
        var deployment = Deployment(ProviderTypes.Anthropic, "https://api.anthropic.com", "claude-sonnet-4-5");

        var request = _sut.BuildRequest(deployment, Request(Chat(Message("user", "Hi"))), stream: true, "sk-ant-key");

        Assert.Equal("https://api.anthropic.com/v1/messages", request.Uri.ToString());
        Assert.Equal("sk-ant-key", request.Header("x-api-key"));
        Assert.Equal("2023-06-01", request.Header("anthropic-version"));
        Assert.Null(request.Header("Authorization"));
        Assert.Equal("text/event-stream", request.Accept);
        Assert.True(Body(request)["stream"]!.GetValue<bool>());
        Assert.Equal("claude-sonnet-4-5", Body(request)["model"]!.GetValue<string>());
    }

    [Fact]
    public void BuildRequest_BaseUrlWithV1_IsNotDoubled()
    {
        var deployment = Deployment(ProviderTypes.Anthropic, "https://proxy.example/anthropic/v1");

        var request = _sut.BuildRequest(deployment, Request(Chat(Message("user", "Hi"))), stream: false, apiKey: null);

        Assert.Equal("https://proxy.example/anthropic/v1/messages", request.Uri.ToString());
        Assert.Null(request.Header("x-api-key"));
    }

    [Fact]
    public void TranslateRequest_SystemAndDeveloperMessages_BecomeTopLevelSystem()
    {
        var body = Translate(Chat(
            Message("system", "Be brief."),
            Message("developer", new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "Use metric units." })),
            Message("user", "Hi")));

        Assert.Equal("Be brief.\n\nUse metric units.", body["system"]!.GetValue<string>());
        var turn = Assert.Single(body["messages"]!.AsArray())!;
        Assert.Equal("user", turn["role"]!.GetValue<string>());
        Assert.Equal("Hi", turn["content"]![0]!["text"]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_WithoutMaxTokens_SendsTheDefault()
    {
        Assert.Equal(AnthropicWire.DefaultMaxTokens, Translate(Chat(Message("user", "Hi")))["max_tokens"]!.GetValue<int>());
    }

    [Fact]
    public void TranslateRequest_MaxCompletionTokens_WinsOverMaxTokens()
    {
        var request = Chat(Message("user", "Hi"));
        request["max_tokens"] = 100;
        request["max_completion_tokens"] = 200;

        Assert.Equal(200, Translate(request)["max_tokens"]!.GetValue<int>());
    }

    [Fact]
    public void TranslateRequest_SamplingFields_AreTranslated()
    {
        var request = Chat(Message("user", "Hi"));
        request["temperature"] = 1.7;
        request["top_p"] = 0.9;
        request["top_k"] = 40;
        request["stop"] = new JsonArray("END", "STOP");
        request["user"] = "user-42";
        request["seed"] = 7;

        var body = Translate(request);

        Assert.Equal(1.0, body["temperature"]!.GetValue<double>());
        Assert.Equal(0.9, body["top_p"]!.GetValue<double>());
        Assert.Equal(40, body["top_k"]!.GetValue<int>());
        Assert.Equal(["END", "STOP"], body["stop_sequences"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal("user-42", body["metadata"]!["user_id"]!.GetValue<string>());
        Assert.Null(body["seed"]);
        Assert.Null(body["stop"]);
        Assert.Null(body["user"]);
    }

    [Fact]
    public void TranslateRequest_StopString_BecomesOneStopSequence()
    {
        var request = Chat(Message("user", "Hi"));
        request["stop"] = "END";

        Assert.Equal("END", Assert.Single(Translate(request)["stop_sequences"]!.AsArray())!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_ImageParts_BecomeBase64AndUrlSources()
    {
        var body = Translate(Chat(Message("user", new JsonArray(
            new JsonObject { ["type"] = "text", ["text"] = "Compare these." },
            new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = PngDataUrl } },
            new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "https://example.com/cat.jpg", ["detail"] = "high" } }))));

        var content = body["messages"]![0]!["content"]!.AsArray();
        Assert.Equal(3, content.Count);
        Assert.Equal("image", content[1]!["type"]!.GetValue<string>());
        Assert.Equal("base64", content[1]!["source"]!["type"]!.GetValue<string>());
        Assert.Equal("image/png", content[1]!["source"]!["media_type"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Png), content[1]!["source"]!["data"]!.GetValue<string>());
        Assert.Equal("url", content[2]!["source"]!["type"]!.GetValue<string>());
        Assert.Equal("https://example.com/cat.jpg", content[2]!["source"]!["url"]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_PdfFilePart_BecomesADocumentBlock()
    {
        var body = Translate(Chat(Message("user", new JsonArray(
            new JsonObject { ["type"] = "file", ["file"] = new JsonObject { ["filename"] = "a.pdf", ["file_data"] = "data:application/pdf;base64,JVBERi0=" } }))));

        var block = body["messages"]![0]!["content"]![0]!;
        Assert.Equal("document", block["type"]!.GetValue<string>());
        Assert.Equal("JVBERi0=", block["source"]!["data"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("input_audio")]
    [InlineData("file")]
    public void TranslateRequest_PartsAnthropicCannotTake_AreUnsupported(string type)
    {
        var part = new JsonObject { ["type"] = type, [type] = new JsonObject { ["data"] = "AAAA", ["format"] = "wav", ["file_id"] = "file-1" } };

        var error = Assert.Throws<UnsupportedRequestException>(() => Translate(Chat(Message("user", new JsonArray(part)))));

        Assert.Equal("messages[0].content", error.Param);
    }

    [Fact]
    public void TranslateRequest_ToolCallsAndResults_BecomeToolUseAndOneUserTurnOfToolResults()
    {
        var assistant = Message("assistant", null);
        assistant["tool_calls"] = new JsonArray(
            new JsonObject { ["id"] = "call_1", ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName, ["arguments"] = "{\"city\":\"Paris\"}" } },
            new JsonObject { ["id"] = "call_2", ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName, ["arguments"] = "" } });
        var first = Message("tool", "{\"temp\":21}");
        first["tool_call_id"] = "call_1";
        var second = Message("tool", "cloudy");
        second["tool_call_id"] = "call_2";

        var messages = Translate(Chat(Message("user", "Weather in Paris and Rome?"), assistant, first, second, Message("user", "Thanks, and tomorrow?")))["messages"]!.AsArray();

        Assert.Equal(["user", "assistant", "user"], messages.Select(m => m!["role"]!.GetValue<string>()));
        var toolUses = messages[1]!["content"]!.AsArray();
        Assert.Equal("tool_use", toolUses[0]!["type"]!.GetValue<string>());
        Assert.Equal("call_1", toolUses[0]!["id"]!.GetValue<string>());
        Assert.Equal("Paris", toolUses[0]!["input"]!["city"]!.GetValue<string>());
        Assert.Empty(toolUses[1]!["input"]!.AsObject());
        var results = messages[2]!["content"]!.AsArray();
        Assert.Equal(3, results.Count);
        Assert.Equal("tool_result", results[0]!["type"]!.GetValue<string>());
        Assert.Equal("call_1", results[0]!["tool_use_id"]!.GetValue<string>());
        Assert.Equal("{\"temp\":21}", results[0]!["content"]!.GetValue<string>());
        Assert.Equal("call_2", results[1]!["tool_use_id"]!.GetValue<string>());
        Assert.Equal("text", results[2]!["type"]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_AssistantToolCallWithBadArguments_IsUnsupported()
    {
        var assistant = Message("assistant", "");
        assistant["tool_calls"] = new JsonArray(new JsonObject { ["id"] = "call_1", ["type"] = "function", ["function"] = new JsonObject { ["name"] = "f", ["arguments"] = "not json" } });

        Assert.Throws<UnsupportedRequestException>(() => Translate(Chat(Message("user", "Hi"), assistant)));
    }

    [Fact]
    public void TranslateRequest_Tools_BecomeNameDescriptionAndInputSchema()
    {
        var request = Chat(Message("user", "Hi"));
        request["tools"] = new JsonArray(
            new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName, ["description"] = "Weather", ["parameters"] = WeatherParameters.DeepClone() } },
            new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "now" } });

        var tools = Translate(request)["tools"]!.AsArray();

        Assert.Equal(ToolName, tools[0]!["name"]!.GetValue<string>());
        Assert.Equal("Weather", tools[0]!["description"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(WeatherParameters, tools[0]!["input_schema"]));
        Assert.Equal("object", tools[1]!["input_schema"]!["type"]!.GetValue<string>());
        Assert.Null(tools[1]!["description"]);
    }

    [Theory]
    [InlineData("\"auto\"", "{\"type\":\"auto\"}")]
    [InlineData("\"none\"", "{\"type\":\"none\"}")]
    [InlineData("\"required\"", "{\"type\":\"any\"}")]
    [InlineData("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}", "{\"type\":\"tool\",\"name\":\"get_weather\"}")]
    public void TranslateRequest_ToolChoice_MapsEachMode(string openAi, string anthropic)
    {
        var request = Chat(Message("user", "Hi"));
        request["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName } });
        request["tool_choice"] = JsonNode.Parse(openAi);

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(anthropic), Translate(request)["tool_choice"]), Translate(request)["tool_choice"]?.ToJsonString());
    }

    [Fact]
    public void TranslateRequest_ParallelToolCallsOff_DisablesParallelToolUse()
    {
        var request = Chat(Message("user", "Hi"));
        request["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName } });
        request["parallel_tool_calls"] = false;

        var choice = Translate(request)["tool_choice"]!;

        Assert.Equal("auto", choice["type"]!.GetValue<string>());
        Assert.True(choice["disable_parallel_tool_use"]!.GetValue<bool>());
    }

    [Fact]
    public void TranslateRequest_JsonSchemaFormat_BecomesASystemInstruction()
    {
        var request = Chat(Message("system", "Be brief."), Message("user", "Hi"));
        request["response_format"] = new JsonObject
        {
            ["type"] = "json_schema",
            ["json_schema"] = new JsonObject { ["name"] = "weather", ["schema"] = WeatherParameters.DeepClone() },
        };

        var system = Translate(request)["system"]!.GetValue<string>();

        Assert.StartsWith("Be brief.\n\nRespond with a single valid JSON object", system, StringComparison.Ordinal);
        Assert.Contains("\"city\"", system, StringComparison.Ordinal);
    }

    [Fact]
    public void TranslateRequest_MoreThanOneChoice_IsUnsupported()
    {
        var request = Chat(Message("user", "Hi"));
        request["n"] = 2;

        Assert.Equal("n", Assert.Throws<UnsupportedRequestException>(() => Translate(request)).Param);
    }

    [Fact]
    public void ReadCompletion_TextAndToolUse_BecomeContentToolCallsAndUsage()
    {
        const string message = """
            {"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
             "content":[{"type":"thinking","thinking":"hmm","signature":"x"},{"type":"text","text":"Let me check."},
                        {"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Zürich"}}],
             "stop_reason":"tool_use","stop_sequence":null,
             "usage":{"input_tokens":100,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":40}}
            """;

        var result = _sut.ReadCompletion(Encoding.UTF8.GetBytes(message), Context());

        var completion = JsonNode.Parse(result.Completion.GetRawText())!;
        Assert.Equal("chat.completion", completion["object"]!.GetValue<string>());
        Assert.Equal("msg_01", completion["id"]!.GetValue<string>());
        Assert.Equal("claude-sonnet-4-5-20250929", completion["model"]!.GetValue<string>());
        var choice = completion["choices"]![0]!;
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        Assert.Equal("Let me check.", choice["message"]!["content"]!.GetValue<string>());
        var call = choice["message"]!["tool_calls"]![0]!;
        Assert.Equal("toolu_01", call["id"]!.GetValue<string>());
        Assert.Equal("function", call["type"]!.GetValue<string>());
        Assert.Equal("get_weather", call["function"]!["name"]!.GetValue<string>());
        Assert.Equal("Zürich", JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!["city"]!.GetValue<string>());
        Assert.Equal(new WireUsage(150, 40, 30), result.Usage);
        Assert.Equal(150, completion["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(30, completion["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>());
        Assert.Equal(190, completion["usage"]!["total_tokens"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("end_turn", "stop")]
    [InlineData("stop_sequence", "stop")]
    [InlineData("max_tokens", "length")]
    [InlineData("tool_use", "tool_calls")]
    [InlineData("refusal", "content_filter")]
    public void ReadCompletion_StopReason_MapsToFinishReason(string stopReason, string finishReason)
    {
        var message = $$$"""{"id":"msg_01","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"x"}],"stop_reason":"{{{stopReason}}}","usage":{"input_tokens":1,"output_tokens":1}}""";

        var completion = JsonNode.Parse(_sut.ReadCompletion(Encoding.UTF8.GetBytes(message), Context()).Completion.GetRawText())!;

        Assert.Equal(finishReason, completion["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }

    [Fact]
    public void ReadCompletion_NotAMessage_ThrowsJsonException()
    {
        Assert.ThrowsAny<JsonException>(() => _sut.ReadCompletion(Encoding.UTF8.GetBytes("{\"id\":\"x\"}"), Context()));
        Assert.ThrowsAny<JsonException>(() => _sut.ReadCompletion(Encoding.UTF8.GetBytes("<html>"), Context()));
    }

    private const string ToolStream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":90,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":1}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: ping
        data: {"type": "ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Grüße"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" aus Zürich"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Zü"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"rich\"}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":1}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}

        event: message_stop
        data: {"type":"message_stop"}


        """;

    [Fact]
    public async Task ReadStream_TextAndToolUse_BecomeOpenAiChunksWithArgumentFragmentsAndFinalUsage()
    {
        var chunks = await ReadStreamAsync(_sut, ToolStream);

        Assert.Equal("Grüße aus Zürich", StreamedText(chunks));
        Assert.Equal("{\"city\": \"Zürich\"}", StreamedArguments(chunks));
        Assert.Equal("tool_calls", FinishReason(chunks));
        var first = JsonNode.Parse(chunks[0].Json)!;
        Assert.Equal("chat.completion.chunk", first["object"]!.GetValue<string>());
        Assert.Equal("msg_01", first["id"]!.GetValue<string>());
        Assert.Equal("assistant", first["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        Assert.Equal("Grüße", first["choices"]![0]!["delta"]!["content"]!.GetValue<string>());
        Assert.All(chunks.Skip(1), c => Assert.DoesNotContain("\"role\"", c.Json, StringComparison.Ordinal));
        var start = chunks.Select(c => JsonNode.Parse(c.Json)!["choices"]!.AsArray().FirstOrDefault()?["delta"]?["tool_calls"]?[0]).First(c => c?["id"] is not null)!;
        Assert.Equal("toolu_01", start["id"]!.GetValue<string>());
        Assert.Equal("get_weather", start["function"]!["name"]!.GetValue<string>());
        Assert.Equal(0, start["index"]!.GetValue<int>());
        // No chunk for message_start (its role goes with the first text), the ping, the empty text delta or the empty JSON fragment.
        Assert.Equal(7, chunks.Count);
        var last = chunks[^1];
        Assert.True(last.UsageOnly);
        Assert.Equal(new WireUsage(100, 42, 10), last.Usage);
        Assert.Empty(JsonNode.Parse(last.Json)!["choices"]!.AsArray());
        Assert.Equal(10, JsonNode.Parse(last.Json)!["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task ReadStream_ErrorEvent_ThrowsWithTheStatusItStandsFor()
    {
        const string stream = """
            event: message_start
            data: {"type":"message_start","message":{"id":"msg_01","model":"m","usage":{"input_tokens":5,"output_tokens":1}}}

            event: error
            data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}


            """;

        var error = await Assert.ThrowsAsync<ProviderStreamException>(() => ReadStreamAsync(_sut, stream));

        Assert.Equal(529, error.Status);
        Assert.Equal("Overloaded", error.Error.Message);
        Assert.Equal("api_error", error.Error.Type);
        Assert.Equal("overloaded_error", error.Error.Code);
    }

    [Fact]
    public async Task ReadStream_EndsBeforeMessageStop_ThrowsIOException()
    {
        var truncated = ToolStream[..ToolStream.IndexOf("event: message_delta", StringComparison.Ordinal)];

        await Assert.ThrowsAsync<IOException>(() => ReadStreamAsync(_sut, truncated));
    }

    [Theory]
    [InlineData(401, "authentication_error", "authentication_error", null)]
    [InlineData(404, "not_found_error", "invalid_request_error", "not_found_error")]
    [InlineData(429, "rate_limit_error", "rate_limit_error", null)]
    [InlineData(529, "overloaded_error", "api_error", "overloaded_error")]
    public void ReadError_AnthropicShape_MapsTheTypeAndScrubsTheKey(int status, string anthropicType, string openAiType, string? code)
    {
        var body = $$$"""{"type":"error","error":{"type":"{{{anthropicType}}}","message":"bad key sk-ant-api03-secretsecret and custom-key-1"},"request_id":"req_1"}""";

        var error = _sut.ReadError(body, status, "custom-key-1");

        Assert.Equal(openAiType, error.Type);
        Assert.Equal(code, error.Code);
        Assert.DoesNotContain("secretsecret", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("custom-key-1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadError_NotJson_GivesTheGenericMessage()
    {
        Assert.Equal("The provider answered HTTP 502.", _sut.ReadError("<html>Bad gateway</html>", 502, null).Message);
    }
}
