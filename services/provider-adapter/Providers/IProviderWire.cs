using System.Text.Json;
using AiMesh.Contracts;
using AiMesh.ProviderAdapter.Catalog;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// One provider's wire format. The canonical format inside AiMesh is OpenAI's chat completions:
/// a wire turns a <see cref="ChatCompletionRequest"/> into the provider's HTTP request, and the
/// provider's answer, stream and errors back into OpenAI's completion, chunks and error. Wires
/// are stateless; <see cref="ProviderAdapterService"/> runs every one through the same
/// resilience pipeline, failure classification and cost.
/// </summary>
public interface IProviderWire
{
    /// <summary>
    /// Translates the request once per call; <see cref="WireRequest.ToMessage"/> makes the message of each attempt.
    /// </summary>
    /// <exception cref="UnsupportedRequestException">The provider cannot express the request (e.g. <c>n</c> &gt; 1 for Anthropic).</exception>
    WireRequest BuildRequest(DeploymentConfig deployment, ChatCompletionRequest request, bool stream, string? apiKey);

    /// <summary>The provider's successful answer (its UTF-8 bytes, as they came) as an OpenAI <c>chat.completion</c>, with its usage.</summary>
    /// <exception cref="JsonException">The body is not a well-formed answer of this provider.</exception>
    WireCompletion ReadCompletion(ReadOnlyMemory<byte> body, WireContext context);

    /// <summary>
    /// The provider's stream as OpenAI <c>chat.completion.chunk</c> JSON texts, ending with a usage-only
    /// chunk when the provider reported usage. Completes only when the provider finished its answer.
    /// </summary>
    /// <exception cref="IOException">The stream ended (or broke) before the provider finished.</exception>
    /// <exception cref="JsonException">An event was malformed.</exception>
    /// <exception cref="ProviderStreamException">The provider sent an error event.</exception>
    IAsyncEnumerable<WireChunk> ReadStreamAsync(Stream body, WireContext context, CancellationToken cancellationToken);

    /// <summary>The provider's error body in OpenAI's terms, every credential scrubbed.</summary>
    ProviderError ReadError(string body, int status, string? apiKey);
}

/// <summary>A translated provider request: rebuilt into a fresh <see cref="HttpRequestMessage"/> for every attempt.</summary>
public sealed record WireRequest(Uri Uri, byte[] Body, IReadOnlyList<KeyValuePair<string, string>> Headers, string Accept)
{
    public HttpRequestMessage ToMessage()
    {
        var message = new HttpRequestMessage(HttpMethod.Post, Uri) { Content = new ByteArrayContent(Body) };
        message.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        message.Headers.Accept.ParseAdd(Accept);
        foreach (var (name, value) in Headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        return message;
    }

    /// <summary>The JSON body (for tests and diagnostics; it holds the prompt, so never log it).</summary>
    public JsonDocument ParseBody() => JsonDocument.Parse(Body);

    /// <summary>A header's value, or null.</summary>
    public string? Header(string name) => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;
}

/// <summary>What a wire needs to write OpenAI's format: the upstream model, the creation time, and the key to scrub.</summary>
public sealed record WireContext(string Model, long Created, string? ApiKey);

/// <summary>Token counts as a provider reports them; <see cref="CachedTokens"/> is part of <see cref="PromptTokens"/>.</summary>
public readonly record struct WireUsage(int PromptTokens, int CompletionTokens, int CachedTokens)
{
    public Usage ToUsage() => new() { PromptTokens = PromptTokens, CompletionTokens = CompletionTokens, TotalTokens = PromptTokens + CompletionTokens };
}

/// <summary>A translated non-streaming answer.</summary>
public sealed record WireCompletion(JsonElement Completion, WireUsage? Usage);

/// <summary>
/// One OpenAI chunk of a translated stream. <see cref="UsageOnly"/>: the chunk has no choices, only usage.
/// <see cref="ContentChars"/>: characters of answer text in it (for a usage estimate when the provider sends none).
/// </summary>
public sealed record WireChunk(string Json, bool UsageOnly, WireUsage? Usage, int ContentChars);

/// <summary>The provider reported an error inside an already open stream.</summary>
public sealed class ProviderStreamException : Exception
{
    public ProviderStreamException(ProviderError error, int status)
        : base(error?.Message)
    {
        ArgumentNullException.ThrowIfNull(error);
        Error = error;
        Status = status;
    }

    public ProviderError Error { get; }

    /// <summary>The HTTP status the error corresponds to (e.g. 529 for Anthropic's overloaded_error).</summary>
    public int Status { get; }
}

/// <summary>The request uses something this provider cannot express: a 400 for the caller, nothing is sent.</summary>
public sealed class UnsupportedRequestException(string message, string? param = null) : Exception(message)
{
    public string? Param { get; } = param;
}
