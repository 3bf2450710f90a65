using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// Counts o200k tokens (OpenAI's gpt-4o vocabulary) as Microsoft.ML.Tokenizers'
/// <c>TiktokenTokenizer.CountTokens</c> does — the same pre-tokenizing pattern, special tokens and
/// byte-pair merges, from the vocabulary file the Microsoft.ML.Tokenizers.Data.O200kBase package
/// ships — but keeps the 200,000 tokens in a few flat arrays (about 5 MB) instead of the library's
/// three dictionaries and their strings (about 40 MB of managed heap, a fifth of the gateway's
/// memory under load). Counting is all the gateway needs; a test checks it against the library.
/// </summary>
internal sealed partial class O200kTokenCounter
{
    /// <summary>The vocabulary inside the data package: deflate-compressed, a "Capacity: N" line, then one base64 token a line, in rank order.</summary>
    private const string DataAssembly = "Microsoft.ML.Tokenizers.Data.O200kBase";
    private const string DataResource = "o200k_base.tiktoken.deflate";

    /// <summary>The special tokens of gpt-4o; each counts as one token wherever it appears.</summary>
    private static readonly string[] SpecialTokens = ["<|endoftext|>", "<|endofprompt|>"];

    private readonly byte[] _bytes;     // every token's bytes, one after the other
    private readonly int[] _offsets;    // token i (its rank is i) is _bytes[_offsets[i].._offsets[i + 1]]
    private readonly int[] _slots;      // open addressing: token index + 1, 0 = empty
    private readonly int _mask;

    private O200kTokenCounter(byte[] bytes, int[] offsets)
    {
        _bytes = bytes;
        _offsets = offsets;
        var count = offsets.Length - 1;
        var size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(count * 2));
        _slots = new int[size];
        _mask = size - 1;
        for (var i = 0; i < count; i++)
        {
            var slot = Hash(Token(i)) & _mask;
            while (_slots[slot] != 0)
            {
                slot = (slot + 1) & _mask;
            }

            _slots[slot] = i + 1;
        }
    }

    /// <summary>Reads the vocabulary from the data package (once, on the first count).</summary>
    public static O200kTokenCounter Load()
    {
        using var compressed = Assembly.Load(DataAssembly).GetManifestResourceStream(DataResource)
            ?? throw new InvalidOperationException($"The o200k vocabulary '{DataResource}' is missing from {DataAssembly}.");
        using var reader = new StreamReader(new DeflateStream(compressed, CompressionMode.Decompress), Encoding.ASCII);
        var bytes = new List<byte>(1_500_000);
        var offsets = new List<int>(200_001) { 0 };
        Span<byte> token = stackalloc byte[512];
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }

            if (!Convert.TryFromBase64Chars(line, token, out var length))
            {
                throw new InvalidDataException($"The o200k vocabulary has a token that is not base64: '{line}'.");
            }

            bytes.AddRange(token[..length]);
            offsets.Add(bytes.Count);
        }

        return new O200kTokenCounter([.. bytes], [.. offsets]);
    }

    /// <summary>The number of o200k tokens of <paramref name="text"/>.</summary>
    public int CountTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var count = 0;
        var start = 0;
        // Special tokens first (one each), then the pieces of the text between them.
        while (NextSpecial(text, start) is var (at, length) && at >= 0)
        {
            count += CountOrdinary(text.AsSpan(start, at - start)) + 1;
            start = at + length;
        }

        return count + CountOrdinary(text.AsSpan(start));
    }

    private static (int At, int Length) NextSpecial(string text, int start)
    {
        var best = -1;
        var length = 0;
        foreach (var special in SpecialTokens)
        {
            var at = text.IndexOf(special, start, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best))
            {
                best = at;
                length = special.Length;
            }
        }

        return (best, length);
    }

    private int CountOrdinary(ReadOnlySpan<char> text)
    {
        var count = 0;
        byte[]? rented = null;
        Span<byte> buffer = stackalloc byte[256];
        foreach (var match in Pieces().EnumerateMatches(text))
        {
            var piece = text.Slice(match.Index, match.Length);
            var needed = Encoding.UTF8.GetMaxByteCount(piece.Length);
            if (needed > buffer.Length)
            {
                if (rented is not null)
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(rented);
                }

                rented = System.Buffers.ArrayPool<byte>.Shared.Rent(needed);
                buffer = rented;
            }

            var length = Encoding.UTF8.GetBytes(piece, buffer);
            count += CountPiece(buffer[..length]);
        }

        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }

        return count;
    }

    /// <summary>
    /// tiktoken's byte-pair merge: start from single bytes and keep merging the adjacent pair whose
    /// joined bytes have the lowest rank (the leftmost on a tie) until no pair is a token.
    /// </summary>
    private int CountPiece(ReadOnlySpan<byte> piece)
    {
        if (piece.Length == 1 || Rank(piece) != int.MaxValue)
        {
            return 1;
        }

        // starts[i]: where part i begins (the last entry is the end); pairRanks[i]: rank of parts i and i + 1 joined.
        var n = piece.Length;
        Span<int> starts = n < 128 ? stackalloc int[n + 1] : new int[n + 1];
        Span<int> pairRanks = n < 128 ? stackalloc int[n] : new int[n];
        for (var i = 0; i <= n; i++)
        {
            starts[i] = i;
        }

        var parts = n;
        for (var i = 0; i < parts - 1; i++)
        {
            pairRanks[i] = Rank(piece[starts[i]..starts[i + 2]]);
        }

        while (parts > 1)
        {
            var best = int.MaxValue;
            var at = -1;
            for (var i = 0; i < parts - 1; i++)
            {
                if (pairRanks[i] < best)
                {
                    best = pairRanks[i];
                    at = i;
                }
            }

            if (at < 0)
            {
                break;
            }

            // Join parts at and at + 1: drop the boundary between them.
            starts[(at + 2)..(parts + 1)].CopyTo(starts[(at + 1)..]);
            pairRanks[(at + 1)..(parts - 1)].CopyTo(pairRanks[at..]);
            parts--;
            if (at < parts - 1)
            {
                pairRanks[at] = Rank(piece[starts[at]..starts[at + 2]]);
            }

            if (at > 0)
            {
                pairRanks[at - 1] = Rank(piece[starts[at - 1]..starts[at + 1]]);
            }
        }

        return parts;
    }

    /// <summary>The rank of the token with exactly these bytes, <see cref="int.MaxValue"/> when there is none.</summary>
    private int Rank(ReadOnlySpan<byte> bytes)
    {
        var slot = Hash(bytes) & _mask;
        while (_slots[slot] is var entry and not 0)
        {
            if (Token(entry - 1).SequenceEqual(bytes))
            {
                return entry - 1;
            }

            slot = (slot + 1) & _mask;
        }

        return int.MaxValue;
    }

    private ReadOnlySpan<byte> Token(int index) => _bytes.AsSpan(_offsets[index], _offsets[index + 1] - _offsets[index]);

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }

    /// <summary>o200k's pre-tokenizer, as tiktoken and Microsoft.ML.Tokenizers define it.</summary>
    [GeneratedRegex(@"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Pieces();
}
