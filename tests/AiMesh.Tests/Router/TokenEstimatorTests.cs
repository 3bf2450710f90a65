using AiMesh.Router.Pipeline;

namespace AiMesh.Tests.Router;

public sealed class TokenEstimatorTests
{
    [Fact]
    public void CountTokens_RememberedCounts_AreThoseOfTheSameText()
    {
        const string Short = "Hello there, how are you today?";
        var words = string.Join(' ', Enumerable.Repeat("tokenizer", 40));
        var spaced = string.Concat(Enumerable.Repeat("a ", 40));
        var packed = new string('a', 80);

        var first = new[] { Short, words, spaced, packed }.Select(TokenEstimator.CountTokens).ToArray();
        var again = new[] { Short, words, spaced, packed }.Select(TokenEstimator.CountTokens).ToArray();

        Assert.Equal(first, again);
        Assert.Equal(8, first[0]);
        // Texts of the same length keep their own counts.
        Assert.NotEqual(first[2], first[3]);
        Assert.True(TokenEstimator.CountTokens(new string('x', TokenEstimator.MaxRememberedLength + 10)) > 0);
    }
}
