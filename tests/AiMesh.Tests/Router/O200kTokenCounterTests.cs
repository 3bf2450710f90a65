using System.Text;
using AiMesh.Router.Pipeline;
using Microsoft.ML.Tokenizers;

namespace AiMesh.Tests.Router;

/// <summary>The gateway's compact o200k counter must count exactly as Microsoft.ML.Tokenizers does.</summary>
public sealed class O200kTokenCounterTests
{
    private static readonly Lazy<O200kTokenCounter> Sut = new(O200kTokenCounter.Load);
    private static readonly Lazy<Tokenizer> Reference = new(() => TiktokenTokenizer.CreateForModel("gpt-4o"));

    private static readonly string[] KnownTexts =
    [
        "",
        "Hello there, how are you today?",
        "Say hello in five words.",
        "  leading and trailing spaces   ",
        "line one\nline two\r\n\r\n\tindented\n\n\n",
        "I'm sure you'll see they've gone; WE'LL SEE, it's HE'S. O'Neil's",
        "CamelCaseIdentifiers andHTTPServer XMLHttpRequest iPhone",
        "1234567890 3.14159 1,000,000 -42 +7e10 0x1F",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[]}",
        "def f(x):\n    return [i ** 2 for i in range(x) if i % 2 == 0]  # squares\n",
        "Grüße aus München! Ça va? Ñandú, façade, naïve — “quotes” ‘single’ … ½ ©",
        "日本語のテキストです。中文文本，还有한국어 텍스트.",
        "مرحبا بالعالم שלום עולם Привет, мир! Γειά σου Κόσμε",
        "emoji 🙂🚀👩‍👩‍👧‍👦 flags 🇫🇷🇯🇵 and ✔︎ symbols ★☆♥",
        "combining: e\u0301 a\u0308 n\u0303, zero-width\u200bspace, nbsp\u00a0here",
        "special <|endoftext|> tokens <|endofprompt|> inside<|endoftext|>",
        "<|endoftext|>",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "!!!???...---___===+++***&&&%%%$$$###@@@~~~```|||\\\\///",
        "https://example.com/path/to/page?query=value&other=1#fragment",
        "dGhpcyBpcyBiYXNlNjQgZW5jb2RlZCB0ZXh0IHRoYXQgZ29lcyBvbiBhbmQgb24=",
    ];

    public static TheoryData<string> Texts() => new(KnownTexts);

    [Theory]
    [MemberData(nameof(Texts))]
    public void CountTokens_KnownTexts_MatchesMicrosoftMlTokenizers(string text) =>
        Assert.Equal(Reference.Value.CountTokens(text), Sut.Value.CountTokens(text));

    [Fact]
    public void CountTokens_RandomTexts_MatchMicrosoftMlTokenizers()
    {
        // Seeded: a mismatch names the text, and the same texts come again.
        var random = new Random(20261206);
        string[] alphabet =
        [
            "a", "e", "t", "Z", "Q", "ß", "é", "ñ", "Ж", "я", "ω", "日", "本", "한", "ا", "ש", "1", "7", "0", " ", " ", " ", "  ",
            "\n", "\r\n", "\t", ".", ",", "'", "'s", "'LL", "-", "_", "/", "\\", "\"", "{", "}", "<", ">", "|", "🙂", "🚀", "\u0301", "\u200b",
            "the", " the", "ing", "tion", "HTTP", "Json", "42", "<|endoftext|>",
        ];
        var mismatches = new List<string>();
        for (var i = 0; i < 2_000; i++)
        {
            var text = new StringBuilder();
            var length = random.Next(1, 60);
            for (var j = 0; j < length; j++)
            {
                text.Append(alphabet[random.Next(alphabet.Length)]);
            }

            var value = text.ToString();
            if (Reference.Value.CountTokens(value) != Sut.Value.CountTokens(value))
            {
                mismatches.Add(value);
            }
        }

        Assert.Empty(mismatches);
    }

    [Fact]
    public void CountTokens_LongDocument_MatchesMicrosoftMlTokenizers()
    {
        var text = string.Join("\n\n", KnownTexts.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 200)));
        var count = Sut.Value.CountTokens(text);
        Assert.True(count > 2_000);
        Assert.Equal(Reference.Value.CountTokens(text), count);
    }
}
