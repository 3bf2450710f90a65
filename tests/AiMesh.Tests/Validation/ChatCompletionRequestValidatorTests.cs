using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.Validation;
using FluentValidation.TestHelper;

namespace AiMesh.Tests.Validation;

public sealed class ChatCompletionRequestValidatorTests
{
    private static readonly ChatCompletionRequestValidator Sut = new(new ValidationLimits { MaxMessages = 3 });

    private static ChatCompletionRequest Valid() => new()
    {
        Model = "gpt-4o-mini",
        Messages = [new ChatMessage { Role = "user", Content = JsonSerializer.SerializeToElement("hi") }],
    };

    [Fact]
    public void Validate_MinimalRequest_IsValid() => Sut.TestValidate(Valid()).ShouldNotHaveAnyValidationErrors();

    [Fact]
    public void Validate_TooManyMessages_Fails()
    {
        var request = Valid() with { Messages = Enumerable.Repeat(Valid().Messages![0], 4).ToList() };

        Sut.TestValidate(request).ShouldHaveValidationErrorFor(r => r.Messages);
    }

    [Fact]
    public void Validate_StreamOptionsWithoutStream_Fails() =>
        Sut.TestValidate(Valid() with { StreamOptions = new StreamOptions { IncludeUsage = true } }).ShouldHaveValidationErrorFor(r => r.StreamOptions);

    [Fact]
    public void Validate_ImagePart_IsValid()
    {
        var parts = JsonSerializer.SerializeToElement(new object[] { new { type = "text", text = "what is this" }, new { type = "image_url", image_url = new { url = "https://example.com/a.png" } } });

        Sut.TestValidate(Valid() with { Messages = [new ChatMessage { Role = "user", Content = parts }] }).ShouldNotHaveAnyValidationErrors();
    }

    [Fact]
    public void Validate_AssistantWithToolCallsAndNoContent_IsValid()
    {
        var assistant = new ChatMessage { Role = "assistant", ToolCalls = JsonSerializer.SerializeToElement(new[] { new { id = "c1", type = "function", function = new { name = "f", arguments = "{}" } } }) };
        var tool = new ChatMessage { Role = "tool", ToolCallId = "c1", Content = JsonSerializer.SerializeToElement("42") };

        Sut.TestValidate(Valid() with { Messages = [Valid().Messages![0], assistant, tool] }).ShouldNotHaveAnyValidationErrors();
    }

    private static ChatCompletionRequest WithParts(object[] parts) =>
        Valid() with { Messages = [new ChatMessage { Role = "user", Content = JsonSerializer.SerializeToElement(parts) }] };

    private static ChatCompletionRequest WithTools(string toolsJson) =>
        Valid() with { Tools = JsonDocument.Parse(toolsJson).RootElement.Clone() };

    [Theory]
    [InlineData("""[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{}}}}]""")]
    [InlineData("""[{"type":"function","function":{"name":"no-params_1"}}]""")]
    [InlineData("""[{"type":"custom","custom":{"name":"grammar tool"}}]""")]
    [InlineData("null")]
    public void Validate_WellFormedTools_AreValid(string tools) =>
        Sut.TestValidate(WithTools(tools)).ShouldNotHaveValidationErrorFor(r => r.Tools);

    [Theory]
    [InlineData("""{"type":"function"}""")]
    [InlineData("""[{"function":{"name":"x"}}]""")]
    [InlineData("""[{"type":"function"}]""")]
    [InlineData("""[{"type":"function","function":{"name":"has space"}}]""")]
    [InlineData("""[{"type":"function","function":{"name":""}}]""")]
    [InlineData("""[{"type":"function","function":{"name":"ok","parameters":"{}"}}]""")]
    [InlineData("""[{"type":"function","function":{"name":"ok","description":5}}]""")]
    [InlineData("""[42]""")]
    public void Validate_MalformedTools_FailOnTools(string tools) =>
        Sut.TestValidate(WithTools(tools)).ShouldHaveValidationErrorFor(r => r.Tools);

    [Fact]
    public void Validate_TooManyTools_Fails()
    {
        var tools = "[" + string.Join(",", Enumerable.Range(0, 129).Select(i => "{\"type\":\"function\",\"function\":{\"name\":\"t" + i + "\"}}")) + "]";

        Sut.TestValidate(WithTools(tools)).ShouldHaveValidationErrorFor(r => r.Tools);
    }

    [Theory]
    [InlineData("\"auto\"", true)]
    [InlineData("\"required\"", true)]
    [InlineData("""{"type":"function","function":{"name":"x"}}""", true)]
    [InlineData("\"sometimes\"", false)]
    [InlineData("5", false)]
    [InlineData("""{"type":"function","function":{"name":"not_offered"}}""", false)]
    [InlineData("""{"type":"function","function":{}}""", false)]
    public void Validate_ToolChoice(string choice, bool valid)
    {
        var result = Sut.TestValidate(WithTools("""[{"type":"function","function":{"name":"x"}}]""") with { ToolChoice = JsonDocument.Parse(choice).RootElement.Clone() });

        if (valid)
        {
            result.ShouldNotHaveValidationErrorFor(r => r.ToolChoice);
        }
        else
        {
            result.ShouldHaveValidationErrorFor(r => r.ToolChoice);
        }
    }

    [Theory]
    [InlineData("\"required\"")]
    [InlineData("""{"type":"function","function":{"name":"x"}}""")]
    public void Validate_ToolChoiceWithoutTools_Fails(string choice)
    {
        var result = Sut.TestValidate(Valid() with { ToolChoice = JsonDocument.Parse(choice).RootElement.Clone() });

        result.ShouldHaveValidationErrorFor(r => r.ToolChoice).WithErrorMessage(choice.StartsWith('{')
            ? "'tool_choice' names a tool but the request has no 'tools'."
            : "'tool_choice' is \"required\" but the request has no 'tools'.");
    }

    [Theory]
    [InlineData("""{"type":"text"}""", true)]
    [InlineData("""{"type":"json_object"}""", true)]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}}""", true)]
    [InlineData("""{"type":"xml"}""", false)]
    [InlineData("""{"type":"json_schema"}""", false)]
    [InlineData("""{"type":"json_schema","json_schema":{"schema":{}}}""", false)]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"has space"}}""", false)]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"a","schema":"{}"}}""", false)]
    [InlineData("\"json\"", false)]
    public void Validate_ResponseFormat(string format, bool valid)
    {
        var result = Sut.TestValidate(Valid() with { ResponseFormat = JsonDocument.Parse(format).RootElement.Clone() });

        if (valid)
        {
            result.ShouldNotHaveValidationErrorFor(r => r.ResponseFormat);
        }
        else
        {
            result.ShouldHaveValidationErrorFor(r => r.ResponseFormat);
        }
    }

    private static ChatCompletionRequest WithExtra(string json) =>
        Valid() with { Extra = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json) };

    [Theory]
    [InlineData("""{"logit_bias":{"50256":-100,"15339":2.5}}""")]
    [InlineData("""{"logprobs":true,"top_logprobs":20}""")]
    [InlineData("""{"logprobs":false}""")]
    [InlineData("""{"parallel_tool_calls":false,"top_k":40}""")]
    public void Validate_WellFormedExtraParameters_AreValid(string extra) =>
        Sut.TestValidate(WithExtra(extra)).ShouldNotHaveAnyValidationErrors();

    [Theory]
    [InlineData("""{"logit_bias":{"abc":5}}""", "logit_bias")]
    [InlineData("""{"logit_bias":{"50256":101}}""", "logit_bias")]
    [InlineData("""{"logit_bias":{"50256":"5"}}""", "logit_bias")]
    [InlineData("""{"logit_bias":[1]}""", "logit_bias")]
    [InlineData("""{"logprobs":"yes"}""", "logprobs")]
    [InlineData("""{"top_logprobs":5}""", "top_logprobs")]
    [InlineData("""{"logprobs":true,"top_logprobs":21}""", "top_logprobs")]
    [InlineData("""{"logprobs":true,"top_logprobs":1.5}""", "top_logprobs")]
    [InlineData("""{"parallel_tool_calls":"no"}""", "parallel_tool_calls")]
    public void Validate_MalformedExtraParameter_IsReportedUnderItsName(string extra, string param)
    {
        var result = Sut.TestValidate(WithExtra(extra));

        Assert.Equal(param, Assert.Single(result.Errors).PropertyName);
    }

    [Fact]
    public void Validate_ToolMessageAnsweringNoCall_Fails()
    {
        var assistant = new ChatMessage { Role = "assistant", ToolCalls = JsonSerializer.SerializeToElement(new[] { new { id = "c1", type = "function", function = new { name = "f", arguments = "{}" } } }) };
        var orphan = new ChatMessage { Role = "tool", ToolCallId = "c2", Content = JsonSerializer.SerializeToElement("42") };

        var result = Sut.TestValidate(Valid() with { Messages = [Valid().Messages![0], assistant, orphan] });

        result.ShouldHaveValidationErrorFor("Messages[2].ToolCallId").WithErrorMessage("The tool message answers the tool call 'c2', which no earlier assistant message made.");
    }

    [Theory]
    [InlineData("""{"role":"assistant","tool_calls":{"id":"c1"}}""")]
    [InlineData("""{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}""")]
    [InlineData("""{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{}}}]}""")]
    [InlineData("""{"role":"assistant","tool_calls":[{"id":"c1","type":"function"}]}""")]
    [InlineData("""{"role":"user","content":"hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}""")]
    public void Validate_MalformedToolCalls_FailOnToolCalls(string message) =>
        Sut.TestValidate(Valid() with { Messages = [Valid().Messages![0], JsonSerializer.Deserialize<ChatMessage>(message)!] })
            .ShouldHaveValidationErrorFor("Messages[1].ToolCalls");

    [Theory]
    [InlineData("data:image/png;base64,iVBORw0KGgo=", null)]
    [InlineData("data:image/png;base64,!!!", "The data of an inline image is not valid base64.")]
    [InlineData("data:image/png;base64,", "The data of an inline image is not valid base64.")]
    [InlineData("data:text/plain;base64,aGVsbG8=", "An inline image must be a base64 data URL of an image, such as 'data:image/png;base64,iVBORw0...'.")]
    [InlineData("data:image/png,rawbytes", "An inline image must be a base64 data URL of an image, such as 'data:image/png;base64,iVBORw0...'.")]
    [InlineData("data:image/;base64,aGVsbG8=", "An inline image must be a base64 data URL of an image, such as 'data:image/png;base64,iVBORw0...'.")]
    public void Validate_InlineImage_MustBeBase64Image(string url, string? error)
    {
        var result = Sut.TestValidate(WithParts([new { type = "image_url", image_url = new { url } }]));

        if (error is null)
        {
            result.ShouldNotHaveAnyValidationErrors();
        }
        else
        {
            result.ShouldHaveValidationErrorFor("Messages[0].Content").WithErrorMessage(error);
        }
    }

    [Theory]
    [InlineData("UklGRg==", "wav", true)]
    [InlineData("SUQz", "mp3", true)]
    [InlineData("@@", "wav", false)]
    [InlineData("UklGRg==", "ogg", false)]
    public void Validate_InputAudio_NeedsBase64AndAKnownFormat(string data, string format, bool valid) =>
        Assert.Equal(valid, Sut.TestValidate(WithParts([new { type = "input_audio", input_audio = new { data, format } }])).IsValid);

    [Fact]
    public void Validate_PartsWithoutTheirPayload_Fail()
    {
        Assert.False(Sut.TestValidate(WithParts([new { type = "text" }])).IsValid);
        Assert.False(Sut.TestValidate(WithParts([new { type = "text", text = 5 }])).IsValid);
        Assert.False(Sut.TestValidate(WithParts([new { type = "image_url" }])).IsValid);
        Assert.False(Sut.TestValidate(WithParts([new { type = "image_url", image_url = new { detail = "low" } }])).IsValid);
    }

    [Fact]
    public void Validate_ImageCountAndInlineSize_AreLimited()
    {
        var sut = new ChatCompletionRequestValidator(new ValidationLimits { MaxImages = 2, MaxImageBytes = 1024 });
        var image = new { type = "image_url", image_url = new { url = "https://example.com/a.png" } };
        var small = new { type = "image_url", image_url = new { url = "data:image/png;base64," + Convert.ToBase64String(new byte[900]) } };
        var large = new { type = "image_url", image_url = new { url = "data:image/png;base64," + Convert.ToBase64String(new byte[2000]) } };

        Assert.True(sut.TestValidate(WithParts([image, small])).IsValid);
        Assert.Contains(sut.TestValidate(WithParts([image, image, image])).Errors, e => e.ErrorMessage.Contains("at most 2 images", StringComparison.Ordinal));
        Assert.Contains(sut.TestValidate(WithParts([large])).Errors, e => e.ErrorMessage.Contains("inline (data URL) image", StringComparison.Ordinal));
    }

    public static TheoryData<string, string, string> BadMessages => new()
    {
        { """{"content":"hi"}""", "Messages[1].Role", "'role' is required." },
        { """{"role":"wizard","content":"hi"}""", "Messages[1].Role", "'wizard' is not a valid role; expected one of: system, developer, user, assistant, tool, function." },
        { """{"role":"assistant","content":5}""", "Messages[1].Content", "'content' must be a string, an array of content parts with a known 'type', or null." },
        { """{"role":"user"}""", "Messages[1].Content", "'content' is required for this role." },
        { """{"role":"user","content":[{"type":"text"}]}""", "Messages[1].Content", "A 'text' part needs a string 'text', an 'image_url' part an 'image_url' with a string 'url', and a 'file' part a 'file' with a string 'file_data' or 'file_id'." },
        { """{"role":"user","content":[{"type":"file","file":{"file_data":5}}]}""", "Messages[1].Content", "A 'text' part needs a string 'text', an 'image_url' part an 'image_url' with a string 'url', and a 'file' part a 'file' with a string 'file_data' or 'file_id'." },
        { """{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":5}]}""", "Messages[1].Content", "'content' must be a string, an array of content parts with a known 'type', or null." },
        { """{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}""", "Messages[1].Content", "'image_url.url' must be an http or https URL, or a base64 data URL." },
        { """{"role":"tool","content":"42"}""", "Messages[1].ToolCallId", "'tool_call_id' is required for a tool message." },
        { """{"role":"user","content":[]}""", "Messages[1].Content", "'content' must not be an empty array: give at least one content part, or a string." },
        { """{"role":"assistant","content":null}""", "Messages[1].Content", "An assistant message needs 'content' or 'tool_calls'." },
    };

    [Theory]
    [MemberData(nameof(BadMessages))]
    public void Validate_BadMessage_IsReportedAtItsIndexAndProperty(string message, string property, string error)
    {
        var bad = JsonSerializer.Deserialize<ChatMessage>(message)!;

        var errors = Sut.TestValidate(Valid() with { Messages = [Valid().Messages![0], bad] }).Errors;

        var only = Assert.Single(errors);
        Assert.Equal((property, error), (only.PropertyName, only.ErrorMessage));
    }

    [Fact]
    public void Validate_MessageBreakingSeveralRules_ReportsEach()
    {
        var bad = JsonSerializer.Deserialize<ChatMessage>("""{"role":"user","content":[{"type":"hologram"}]}""")!;
        var tool = new ChatMessage { Role = "tool", Content = JsonSerializer.SerializeToElement("42") };

        var errors = Sut.TestValidate(Valid() with { Messages = [bad, tool] }).Errors.Select(e => e.PropertyName).ToList();

        Assert.Equal(["Messages[0].Content", "Messages[1].ToolCallId"], errors);
    }

    [Fact]
    public void Normalise_TrimsTheModel() =>
        Assert.Equal("gpt-4o-mini", ValidationService.Normalise(Valid() with { Model = "  gpt-4o-mini " }).Model);
}
