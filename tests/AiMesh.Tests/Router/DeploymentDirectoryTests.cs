using AiMesh.Contracts;
using AiMesh.Router.Pipeline;
using AiMesh.Router.Routing;

namespace AiMesh.Tests.Router;

public sealed class DeploymentDirectoryTests
{
    private static DeploymentInfo Deployment(string id, string model, int priority, string breaker = "closed", bool enabled = true, params string[] aliases) =>
        new(id, "openai", model, aliases, priority, enabled, breaker);

    [Fact]
    public void Candidates_AreOrderedByPriority_WithoutOpenBreakersOrDisabledOnes()
    {
        var deployments = new[]
        {
            Deployment("c", "gpt-4o-mini", 2),
            Deployment("a", "gpt-4o-mini", 0, breaker: "open"),
            Deployment("b", "gpt-4o-mini", 1),
            Deployment("d", "gpt-4o-mini", 0, enabled: false),
            Deployment("e", "other", 0),
        };

        Assert.Equal(["b", "c"], DeploymentDirectory.Candidates(deployments, "gpt-4o-mini").Select(d => d.Id));
    }

    [Fact]
    public void Candidates_MatchAliasesAndPassThrough_PreferringExactMatches()
    {
        var deployments = new[] { Deployment("any", "*", 0), Deployment("named", "gpt-4o", 0, aliases: "smart") };

        Assert.Equal(["named", "any"], DeploymentDirectory.Candidates(deployments, "smart").Select(d => d.Id));
        Assert.Equal(["any"], DeploymentDirectory.Candidates(deployments, "whatever").Select(d => d.Id));
    }

    [Fact]
    public void EstimateTokens_CountsTextWithTheO200kTokenizerAndRequestedOutput()
    {
        var request = new ChatCompletionRequest
        {
            Model = "m",
            MaxTokens = 100,
            N = 2,
            Messages =
            [
                new ChatMessage { Role = "system", Content = System.Text.Json.JsonSerializer.SerializeToElement("You are helpful.") },
                new ChatMessage { Role = "user", Content = System.Text.Json.JsonSerializer.SerializeToElement(new object[] { new { type = "text", text = "Hello, world!" }, new { type = "image_url", image_url = new { url = "https://x/y.png" } } }) },
            ],
        };

        // "You are helpful." = 4 tokens, "Hello, world!" = 4 tokens (o200k), + 2 × 3 framing + 3 priming + one image.
        Assert.Equal(4 + 4 + 6 + 3 + TokenEstimator.PerImage, TokenEstimator.EstimatePromptTokens(request));
        Assert.Equal(200, TokenEstimator.EstimateOutputTokens(request, 256));
    }
}
