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
        var assistant = new ChatMessage { Role = "assistant", ToolCalls = JsonSerializer.SerializeToElement(new[] { new { id = "c1", type = "function" } }) };
        var tool = new ChatMessage { Role = "tool", ToolCallId = "c1", Content = JsonSerializer.SerializeToElement("42") };

        Sut.TestValidate(Valid() with { Messages = [Valid().Messages![0], assistant, tool] }).ShouldNotHaveAnyValidationErrors();
    }

    [Fact]
    public void Normalise_TrimsTheModel() =>
        Assert.Equal("gpt-4o-mini", ValidationService.Normalise(Valid() with { Model = "  gpt-4o-mini " }).Model);
}
