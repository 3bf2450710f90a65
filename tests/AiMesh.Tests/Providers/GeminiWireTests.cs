using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiMesh.ProviderAdapter.Catalog;
using AiMesh.ProviderAdapter.Providers;
using static AiMesh.Tests.Providers.ProviderTestSupport;

namespace AiMesh.Tests.Providers;

/// <summary>OpenAI ⇄ Gemini generateContent translation, both ways, without a network.</summary>
public sealed class GeminiWireTests
{
    private readonly GeminiWire _sut = new();

    private static JsonObject Chat(params JsonObject[] messages) => new()
    {
        ["model"] = "gemini-2.5-flash",
        ["messages"] = new JsonArray(messages.Select(m => (JsonNode?)m).ToArray()),
    };

    private static JsonObject Message(string role, JsonNode? content) => new() { ["role"] = role, ["content"] = content };

    private static JsonObject Translate(JsonObject request) => GeminiWire.TranslateRequest(Request(request));

    [Theory]
    [InlineData("https://generativelanguage.googleapis.com", false, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent")]
    [InlineData("https://generativelanguage.googleapis.com", true, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")]
    [InlineData("https://proxy.example/google/v1beta", false, "https://proxy.example/google/v1beta/models/gemini-2.5-flash:generateContent")]
    public void BuildRequest_UsesTheModelUrlAndKeyHeader(string baseUrl, bool stream, string expected)
    {
        var deployment = Deployment(ProviderTypes.Gemini, baseUrl, "gemini-2.5-flash");

        var request = _sut.BuildRequest(deployment, Request(Chat(Message("user", "Hi"))), stream, "AIzaKey");

        Assert.Equal(expected, request.Uri.ToString());
        Assert.Equal("AIzaKey", request.Header("x-goog-api-key"));
        Assert.Null(Body(request)["model"]);
    }

    [Theory]
    [InlineData("gemini-2.5-flash", "models/gemini-2.5-flash")]
    [InlineData("models/gemini-2.5-pro", "models/gemini-2.5-pro")]
    [InlineData("tunedModels/my-model", "tunedModels/my-model")]
    [InlineData("../../v1/files", "models/..%2F..%2Fv1%2Ffiles")]
    public void ModelPath_EscapesWhatTheCallerNamed(string model, string path) => Assert.Equal(path, GeminiWire.ModelPath(model));

    [Fact]
    public void TranslateRequest_Roles_BecomeSystemInstructionUserAndModelContents()
    {
        var body = Translate(Chat(Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "Weather?")));

        Assert.Equal("Be brief.", body["systemInstruction"]!["parts"]![0]!["text"]!.GetValue<string>());
        var contents = body["contents"]!.AsArray();
        Assert.Equal(["user", "model", "user"], contents.Select(c => c!["role"]!.GetValue<string>()));
        Assert.Equal("Hello!", contents[1]!["parts"]![0]!["text"]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_Images_BecomeInlineDataOrFileData()
    {
        var body = Translate(Chat(Message("user", new JsonArray(
            new JsonObject { ["type"] = "text", ["text"] = "What is this?" },
            new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = PngDataUrl } },
            new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "https://example.com/pics/cat.webp?size=2" } },
            new JsonObject { ["type"] = "input_audio", ["input_audio"] = new JsonObject { ["data"] = "UklGRg==", ["format"] = "wav" } }))));

        var parts = body["contents"]![0]!["parts"]!.AsArray();
        Assert.Equal("image/png", parts[1]!["inlineData"]!["mimeType"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Png), parts[1]!["inlineData"]!["data"]!.GetValue<string>());
        Assert.Equal("image/webp", parts[2]!["fileData"]!["mimeType"]!.GetValue<string>());
        Assert.Equal("https://example.com/pics/cat.webp?size=2", parts[2]!["fileData"]!["fileUri"]!.GetValue<string>());
        Assert.Equal("audio/wav", parts[3]!["inlineData"]!["mimeType"]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_ToolCallsAndResults_BecomeFunctionCallAndFunctionResponses()
    {
        var assistant = Message("assistant", null);
        assistant["tool_calls"] = new JsonArray(
            new JsonObject { ["id"] = "call_a__thought__c2ln", ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName, ["arguments"] = "{\"city\":\"Paris\"}" } },
            new JsonObject { ["id"] = "call_b", ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_time", ["arguments"] = "{}" } });
        var first = Message("tool", "{\"temp\":21}");
        first["tool_call_id"] = "call_a__thought__c2ln";
        var second = Message("tool", "noon");
        second["tool_call_id"] = "call_b";

        var contents = Translate(Chat(Message("user", "Paris?"), assistant, first, second))["contents"]!.AsArray();

        Assert.Equal(["user", "model", "user"], contents.Select(c => c!["role"]!.GetValue<string>()));
        var calls = contents[1]!["parts"]!.AsArray();
        Assert.Equal(ToolName, calls[0]!["functionCall"]!["name"]!.GetValue<string>());
        Assert.Equal("Paris", calls[0]!["functionCall"]!["args"]!["city"]!.GetValue<string>());
        Assert.Equal("c2ln", calls[0]!["thoughtSignature"]!.GetValue<string>());
        Assert.Null(calls[1]!["thoughtSignature"]);
        var responses = contents[2]!["parts"]!.AsArray();
        Assert.Equal(ToolName, responses[0]!["functionResponse"]!["name"]!.GetValue<string>());
        Assert.Equal(21, responses[0]!["functionResponse"]!["response"]!["temp"]!.GetValue<int>());
        Assert.Equal("get_time", responses[1]!["functionResponse"]!["name"]!.GetValue<string>());
        Assert.Equal("noon", responses[1]!["functionResponse"]!["response"]!["result"]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_ToolResultWithoutItsCall_IsUnsupported()
    {
        var orphan = Message("tool", "42");
        orphan["tool_call_id"] = "call_unknown";

        Assert.Equal("messages[1].tool_call_id", Assert.Throws<UnsupportedRequestException>(() => Translate(Chat(Message("user", "Hi"), orphan))).Param);
    }

    [Fact]
    public void TranslateRequest_Tools_BecomeFunctionDeclarationsWithGeminiSchemas()
    {
        var request = Chat(Message("user", "Hi"));
        request["tools"] = new JsonArray(
            new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = ToolName, ["description"] = "Weather", ["parameters"] = WeatherParameters.DeepClone() } },
            new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "now", ["parameters"] = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() } } });
        request["tool_choice"] = JsonNode.Parse("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}");

        var body = Translate(request);

        var declarations = body["tools"]![0]!["functionDeclarations"]!.AsArray();
        var parameters = declarations[0]!["parameters"]!;
        Assert.Equal("OBJECT", parameters["type"]!.GetValue<string>());
        Assert.Equal("STRING", parameters["properties"]!["city"]!["type"]!.GetValue<string>());
        Assert.Equal(["celsius", "fahrenheit"], parameters["properties"]!["unit"]!["enum"]!.AsArray().Select(e => e!.GetValue<string>()));
        Assert.Null(parameters["additionalProperties"]);
        Assert.Null(declarations[1]!["parameters"]);
        Assert.Equal("ANY", body["toolConfig"]!["functionCallingConfig"]!["mode"]!.GetValue<string>());
        Assert.Equal(ToolName, body["toolConfig"]!["functionCallingConfig"]!["allowedFunctionNames"]![0]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_GenerationFields_BecomeGenerationConfig()
    {
        var request = Chat(Message("user", "Hi"));
        request["temperature"] = 0.4;
        request["top_p"] = 0.8;
        request["top_k"] = 20;
        request["max_tokens"] = 256;
        request["stop"] = new JsonArray("END");
        request["seed"] = 7;
        request["response_format"] = new JsonObject
        {
            ["type"] = "json_schema",
            ["json_schema"] = new JsonObject { ["name"] = "weather", ["strict"] = true, ["schema"] = WeatherParameters.DeepClone() },
        };

        var config = Translate(request)["generationConfig"]!;

        Assert.Equal(0.4, config["temperature"]!.GetValue<double>());
        Assert.Equal(0.8, config["topP"]!.GetValue<double>());
        Assert.Equal(20, config["topK"]!.GetValue<int>());
        Assert.Equal(256, config["maxOutputTokens"]!.GetValue<int>());
        Assert.Equal("END", config["stopSequences"]![0]!.GetValue<string>());
        Assert.Equal(7, config["seed"]!.GetValue<long>());
        Assert.Equal("application/json", config["responseMimeType"]!.GetValue<string>());
        Assert.Equal("OBJECT", config["responseSchema"]!["type"]!.GetValue<string>());
        Assert.Equal("city", config["responseSchema"]!["required"]![0]!.GetValue<string>());
    }

    [Fact]
    public void TranslateRequest_JsonObjectFormat_SetsOnlyTheMimeType()
    {
        var request = Chat(Message("user", "Hi"));
        request["response_format"] = new JsonObject { ["type"] = "json_object" };

        var config = Translate(request)["generationConfig"]!;

        Assert.Equal("application/json", config["responseMimeType"]!.GetValue<string>());
        Assert.Null(config["responseSchema"]);
    }

    [Fact]
    public void SchemaConvert_UnionsRefsAndUnknownKeywords_BecomeGeminisSubset()
    {
        var schema = JsonDocument.Parse("""
            {"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
             "properties":{"when":{"type":["string","null"],"format":"date-time"},
                           "mail":{"type":"string","format":"email"},
                           "place":{"$ref":"#/$defs/Place","description":"Where"},
                           "tags":{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"null"}]}}},
             "required":["when","missing"],
             "$defs":{"Place":{"type":"object","properties":{"name":{"type":"string","const":"home"}}}}}
            """).RootElement;

        var converted = GeminiSchema.Convert(schema);

        Assert.Null(converted["$schema"]);
        Assert.Null(converted["additionalProperties"]);
        Assert.Null(converted["$defs"]);
        var properties = converted["properties"]!;
        Assert.Equal("STRING", properties["when"]!["type"]!.GetValue<string>());
        Assert.True(properties["when"]!["nullable"]!.GetValue<bool>());
        Assert.Equal("date-time", properties["when"]!["format"]!.GetValue<string>());
        Assert.Null(properties["mail"]!["format"]);
        Assert.Equal("OBJECT", properties["place"]!["type"]!.GetValue<string>());
        Assert.Equal("Where", properties["place"]!["description"]!.GetValue<string>());
        Assert.Equal("home", properties["place"]!["properties"]!["name"]!["enum"]![0]!.GetValue<string>());
        Assert.True(properties["tags"]!["items"]!["nullable"]!.GetValue<bool>());
        Assert.Equal("STRING", properties["tags"]!["items"]!["type"]!.GetValue<string>());
        Assert.Equal(["when"], converted["required"]!.AsArray().Select(r => r!.GetValue<string>()));
    }

    [Fact]
    public void ReadCompletion_TextAndFunctionCall_BecomeContentToolCallsAndUsage()
    {
        const string response = """
            {"candidates":[{"content":{"role":"model","parts":[{"text":"thinking...","thought":true},{"text":"Checking "},{"text":"now."},
               {"functionCall":{"name":"get_weather","args":{"city":"Zürich"}},"thoughtSignature":"U2ln"}]},"finishReason":"STOP","index":0}],
             "usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":30,"thoughtsTokenCount":12,"cachedContentTokenCount":100,"totalTokenCount":162},
             "modelVersion":"gemini-2.5-flash","responseId":"resp-1"}
            """;

        var result = _sut.ReadCompletion(Encoding.UTF8.GetBytes(response), Context());

        var completion = JsonNode.Parse(result.Completion.GetRawText())!;
        Assert.Equal("resp-1", completion["id"]!.GetValue<string>());
        var choice = completion["choices"]![0]!;
        Assert.Equal("Checking now.", choice["message"]!["content"]!.GetValue<string>());
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        var call = choice["message"]!["tool_calls"]![0]!;
        Assert.StartsWith("call_", call["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.EndsWith("__thought__U2ln", call["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("{\"city\":\"Zürich\"}", call["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal(new WireUsage(120, 42, 100), result.Usage);
    }

    [Theory]
    [InlineData("STOP", "stop")]
    [InlineData("MAX_TOKENS", "length")]
    [InlineData("SAFETY", "content_filter")]
    [InlineData("RECITATION", "content_filter")]
    [InlineData("PROHIBITED_CONTENT", "content_filter")]
    [InlineData("OTHER", "stop")]
    public void ReadCompletion_FinishReason_MapsToOpenAis(string gemini, string openAi)
    {
        var response = $$$"""{"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":"{{{gemini}}}","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}}""";

        Assert.Equal(openAi, JsonNode.Parse(_sut.ReadCompletion(Encoding.UTF8.GetBytes(response), Context()).Completion.GetRawText())!["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }

    [Fact]
    public void ReadCompletion_BlockedPrompt_IsAnEmptyContentFilterAnswer()
    {
        const string response = """{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}""";

        var completion = JsonNode.Parse(_sut.ReadCompletion(Encoding.UTF8.GetBytes(response), Context()).Completion.GetRawText())!;

        Assert.Equal("content_filter", completion["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(string.Empty, completion["choices"]![0]!["message"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task ReadStream_SseWithCrLf_BecomesChunksWithWholeToolCallAndFinalUsage()
    {
        var stream = string.Concat(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Grüße\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":50,\"totalTokenCount\":50},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":50,\"totalTokenCount\":50}}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" aus Zürich\"},{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Zürich\"}}}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":50,\"candidatesTokenCount\":9,\"cachedContentTokenCount\":20,\"totalTokenCount\":59}}\r\n\r\n");

        var chunks = await ReadStreamAsync(_sut, stream);

        Assert.Equal("Grüße aus Zürich", StreamedText(chunks));
        Assert.Equal("{\"city\":\"Zürich\"}", StreamedArguments(chunks));
        Assert.Equal("tool_calls", FinishReason(chunks));
        Assert.Equal("r1", JsonNode.Parse(chunks[0].Json)!["id"]!.GetValue<string>());
        Assert.Equal(4, chunks.Count);
        Assert.True(chunks[^1].UsageOnly);
        Assert.Equal(new WireUsage(50, 9, 20), chunks[^1].Usage);
    }

    [Fact]
    public async Task ReadStream_EndsWithoutFinishReason_ThrowsIOException()
    {
        const string stream = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n";

        await Assert.ThrowsAsync<IOException>(() => ReadStreamAsync(_sut, stream));
    }

    [Fact]
    public async Task ReadStream_ErrorEvent_ThrowsWithItsCode()
    {
        const string stream = "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n";

        var error = await Assert.ThrowsAsync<ProviderStreamException>(() => ReadStreamAsync(_sut, stream));

        Assert.Equal(503, error.Status);
        Assert.Equal("unavailable", error.Error.Code);
    }

    [Fact]
    public void ReadError_InvalidKey_IsAnAuthenticationErrorWithoutTheKey()
    {
        const string body = """
            [{"error":{"code":400,"message":"API key not valid: AIzaSyD-1234567890abcdef. Please pass a valid API key.","status":"INVALID_ARGUMENT",
              "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}]
            """;

        var error = _sut.ReadError(body, 400, "AIzaSyD-1234567890abcdef");

        Assert.Equal("authentication_error", error.Type);
        Assert.Equal("invalid_api_key", error.Code);
        Assert.DoesNotContain("1234567890", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(429, "RESOURCE_EXHAUSTED", "rate_limit_error")]
    [InlineData(403, "PERMISSION_DENIED", "permission_error")]
    [InlineData(404, "NOT_FOUND", "invalid_request_error")]
    [InlineData(503, "UNAVAILABLE", "api_error")]
    public void ReadError_Status_MapsToOpenAiType(int status, string statusName, string type)
    {
        var body = $$$"""{"error":{"code":{{{status}}},"message":"m","status":"{{{statusName}}}"}}""";

        var error = _sut.ReadError(body, status, null);

        Assert.Equal(type, error.Type);
        Assert.Equal(statusName.ToLowerInvariant(), error.Code);
    }
}
