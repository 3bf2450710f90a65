using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;
using AiMesh.Validation;
using BenchmarkDotNet.Attributes;
using FluentValidation.Results;

namespace AiMesh.Bench.Micro;

/// <summary>
/// Request parsing and validation as the router does it: RequestReader's UTF-8 check and
/// deserialisation (its HTTP part aside), then the validation service (FluentValidation + normalisation).
/// </summary>
[MemoryDiagnoser]
public class RequestParsingBenchmarks
{
    private byte[] _body = [];
    private ChatCompletionRequest _request = new();
    private readonly ChatCompletionRequestValidator _validator = new(new ValidationLimits());
    private ValidationService _service = null!;
    // The default policy: screening on (flag), PII redaction off — what every request pays for by default.
    private static readonly ContentPolicy DefaultPolicy = new();

    [Params(SampleRequests.Small, SampleRequests.Conversation)]
    public string Request { get; set; } = SampleRequests.Small;

    [GlobalSetup]
    public void Setup()
    {
        _body = SampleRequests.Body(Request);
        _request = SampleRequests.Request(Request);
        _service = new ValidationService(_validator);
    }

    [Benchmark]
    public ChatCompletionRequest? Deserialize() => JsonSerializer.Deserialize<ChatCompletionRequest>(_body, AiMeshJson.Options);

    [Benchmark]
    public ValidationResult Validate() => _validator.Validate(_request);

    [Benchmark]
    public async Task<ValidationVerdict> ReadAndValidate()
    {
        if (!System.Text.Unicode.Utf8.IsValid(_body))
        {
            throw new InvalidOperationException("The sample is not UTF-8.");
        }

        var request = JsonSerializer.Deserialize<ChatCompletionRequest>(_body, AiMeshJson.Options)!;
        return await _service.ValidateChatAsync(request, DefaultPolicy, CancellationToken.None);
    }
}
