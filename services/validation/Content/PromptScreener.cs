using System.Text.RegularExpressions;

namespace AiMesh.Validation.Content;

/// <summary>
/// Finds known prompt-injection phrasings and chat-template special tokens in user text. A
/// heuristic with few false positives, not a classifier: it names the rules that matched.
/// </summary>
public static partial class PromptScreener
{
    public const string IgnoreInstructions = "ignore-instructions";
    public const string RevealSystemPrompt = "reveal-system-prompt";
    public const string Jailbreak = "jailbreak";
    public const string SpecialToken = "special-token";

    private static readonly (string Name, Regex Pattern)[] Rules =
    [
        (IgnoreInstructions, IgnoreInstructionsPattern()),
        (RevealSystemPrompt, RevealSystemPromptPattern()),
        (Jailbreak, JailbreakPattern()),
        (SpecialToken, SpecialTokenPattern()),
    ];

    /// <summary>Adds the names of the rules <paramref name="text"/> matches to <paramref name="signals"/>.</summary>
    public static void Screen(string text, ISet<string> signals)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(signals);
        foreach (var (name, pattern) in Rules)
        {
            if (!signals.Contains(name) && pattern.IsMatch(text))
            {
                signals.Add(name);
            }
        }
    }

    // "Ignore all previous instructions", "disregard the above rules", "forget your system prompt" ...
    [GeneratedRegex(@"\b(?:ignore|disregard|forget|override|bypass|skip)\s+(?:(?:all|any|every|the|your|my|of|these|those)\s+){0,3}(?:previous|prior|above|earlier|preceding|foregoing|system|original|initial|developer)\s+(?:instructions?|prompts?|rules|directions|directives|guidelines|messages|context|constraints)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex IgnoreInstructionsPattern();

    // "Reveal your system prompt", "print the hidden instructions", "repeat the text above verbatim" ...
    [GeneratedRegex(@"\b(?:reveal|show|print|repeat|output|display|leak|dump|tell\s+me)\s+(?:me\s+)?(?:your|the)\s+(?:(?:full|entire|exact|original|initial|hidden|secret)\s+)?(?:system\s+(?:prompt|message|instructions)|hidden\s+(?:instructions|prompt)|initial\s+instructions|developer\s+(?:message|instructions)|text\s+above\s+verbatim)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RevealSystemPromptPattern();

    // Role overrides of the well-known jailbreak prompts ("you are now DAN", "developer mode enabled" ...).
    [GeneratedRegex(@"\b(?:you\s+are\s+now\s+(?:DAN|in\s+developer\s+mode|jailbroken|unfiltered|unrestricted|uncensored)|do\s+anything\s+now|(?:developer|god|jailbreak|DAN)\s+mode\s+(?:enabled|activated|on)|(?:answer|respond|act)\s+without\s+any\s+(?:restrictions|filters|limitations|rules)|new\s+system\s+(?:prompt|instructions?)\s*:)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex JailbreakPattern();

    // Chat-template markers of the common model families: ChatML <|im_start|>, Llama [INST] and
    // <<SYS>>, Llama 3 <|eot_id|>, Gemma <start_of_turn>, and any other <|name|> token.
    [GeneratedRegex(@"<\|[a-z_]{2,40}\|>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SpecialTokenPattern();
}
