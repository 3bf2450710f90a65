using System.Text.RegularExpressions;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>Removes anything that looks like a credential from provider text before it reaches a caller or a log.</summary>
public static partial class CredentialScrubber
{
    public static string Scrub(string text, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!string.IsNullOrEmpty(apiKey))
        {
            text = text.Replace(apiKey, "***", StringComparison.Ordinal);
        }

        return KeyLike().Replace(text, "$1***");
    }

    // OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Google (AIza) style keys, and bearer tokens.
    [GeneratedRegex(@"\b(sk-(?:ant-|proj-)?|AIza|Bearer\s+)[A-Za-z0-9_\-\.\*]{6,}", RegexOptions.CultureInvariant)]
    private static partial Regex KeyLike();
}
