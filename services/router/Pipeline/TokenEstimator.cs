using System.Text.Json;
using AiMesh.Contracts;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// The prompt-token estimate a quota reservation is made with, counted with OpenAI's o200k
/// vocabulary (<see cref="O200kTokenCounter"/>, which counts as Microsoft.ML.Tokenizers does): text and tool definitions are tokenized, each message
/// adds its framing, an image counts as a high-detail tile set. The provider's actual figures
/// settle the reservation afterwards.
/// </summary>
public static class TokenEstimator
{
    /// <summary>Framing tokens per message, and the assistant reply's priming, as OpenAI counts them.</summary>
    public const int PerMessage = 3;
    public const int ReplyPriming = 3;

    /// <summary>An image part, counted as a 1024×1024 high-detail image (85 + 4 × 170).</summary>
    public const int PerImage = 765;

    /// <summary>Texts up to this many characters have their counts remembered (conversations resend their history each turn).</summary>
    internal const int MaxRememberedLength = 2048;

    /// <summary>At most this many counts are remembered; when full, the memory starts again.</summary>
    internal const int MaxRemembered = 2048;

    private static readonly Lazy<O200kTokenCounter> O200k = new(O200kTokenCounter.Load);

    // Tokenizing costs about 3 µs per 100 characters; looking a text up costs a hash. The count is the same either way.
    // Keyed by a SHA-256 digest (128 bits of it), so no prompt text stays in memory.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<UInt128, int> Remembered = new();
    private static int _rememberedCount; // ConcurrentDictionary.Count takes every lock: keep our own

    public static int CountTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return 0;
        }

        if (text.Length > MaxRememberedLength)
        {
            return O200k.Value.CountTokens(text);
        }

        var key = Digest(text);
        if (Remembered.TryGetValue(key, out var known))
        {
            return known;
        }

        var count = O200k.Value.CountTokens(text);
        if (Volatile.Read(ref _rememberedCount) >= MaxRemembered)
        {
            Remembered.Clear();
            Volatile.Write(ref _rememberedCount, 0);
        }

        if (Remembered.TryAdd(key, count))
        {
            Interlocked.Increment(ref _rememberedCount);
        }

        return count;
    }

    private static UInt128 Digest(string text)
    {
        Span<byte> hash = stackalloc byte[32];
        System.Security.Cryptography.SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(text.AsSpan()), hash);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }

    public static int EstimatePromptTokens(ChatCompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        long tokens = ReplyPriming;
        foreach (var message in request.Messages ?? [])
        {
            tokens += PerMessage + (message.Name is { } name ? CountTokens(name) : 0);
            tokens += message.Content switch
            {
                { ValueKind: JsonValueKind.String } text => CountTokens(text.GetString()!),
                { ValueKind: JsonValueKind.Array } parts => parts.EnumerateArray().Sum(Part),
                _ => 0,
            };
            tokens += message.ToolCalls is { } calls ? CountTokens(calls.GetRawText()) : 0;
        }

        tokens += request.Tools is { ValueKind: JsonValueKind.Array } tools ? CountTokens(tools.GetRawText()) : 0;
        return (int)Math.Min(int.MaxValue, tokens);
    }

    public static int EstimateOutputTokens(ChatCompletionRequest request, int fallback)
    {
        ArgumentNullException.ThrowIfNull(request);
        return (request.MaxCompletionTokens ?? request.MaxTokens ?? fallback) * Math.Max(1, request.N ?? 1);
    }

    private static long Part(JsonElement part)
    {
        if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type))
        {
            return 0;
        }

        return type.GetString() switch
        {
            "text" when part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String => CountTokens(text.GetString()!),
            "image_url" => PerImage,
            // Audio and files: a rough size-based guess rather than tokenizing base64.
            _ => (part.GetRawText().Length + 3) / 4,
        };
    }
}
