using System.Numerics;
using System.Text.RegularExpressions;

namespace AiMesh.Validation.Content;

/// <summary>
/// Finds personal data and secrets in text and replaces each with <c>[REDACTED:kind]</c>. Kinds:
/// private keys, API keys and tokens, e-mail addresses, IBANs (mod-97 checked), payment card
/// numbers (Luhn checked), national-id-like numbers (US SSN, UK NINO), phone numbers.
/// Detection is pattern based: it errs towards redacting.
/// </summary>
public static partial class PiiRedactor
{
    public const string PrivateKey = "private_key";
    public const string ApiKey = "api_key";
    public const string Email = "email";
    public const string Iban = "iban";
    public const string PaymentCard = "payment_card";
    public const string NationalId = "national_id";
    public const string Phone = "phone";

    // Order matters: secrets first (a key may contain digit runs), phones last (the loosest pattern).
    private static readonly (string Kind, Regex Pattern, Func<string, bool> IsReal)[] Detectors =
    [
        (PrivateKey, PrivateKeyPattern(), _ => true),
        (ApiKey, ApiKeyPattern(), _ => true),
        (Email, EmailPattern(), _ => true),
        (Iban, IbanPattern(), IsValidIban),
        (PaymentCard, CardPattern(), PassesLuhn),
        (NationalId, NationalIdPattern(), _ => true),
        (Phone, PhonePattern(), IsPhoneLike),
    ];

    public static IReadOnlyList<string> Kinds { get; } = Detectors.Select(d => d.Kind).ToArray();

    /// <summary>
    /// Redacts <paramref name="text"/> and adds what it found to <paramref name="counts"/>; returns the
    /// same instance when nothing was found.
    /// </summary>
    public static string Redact(string text, IDictionary<string, int> counts)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(counts);
        var result = text;
        foreach (var (kind, pattern, isReal) in Detectors)
        {
            var found = 0;
            var replaced = pattern.Replace(result, match =>
            {
                if (!isReal(match.Value))
                {
                    return match.Value;
                }

                found++;
                return $"[REDACTED:{kind}]";
            });
            if (found > 0)
            {
                counts[kind] = counts.TryGetValue(kind, out var before) ? before + found : found;
                result = replaced;
            }
        }

        return result;
    }

    /// <summary>The Luhn checksum of a 13–19 digit card number (spaces and dashes ignored).</summary>
    public static bool PassesLuhn(string candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var digits = candidate.Where(char.IsAsciiDigit).Select(c => c - '0').ToArray();
        if (digits.Length is < 13 or > 19 || digits.All(d => d == digits[0]))
        {
            return false;
        }

        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var digit = digits[digits.Length - 1 - i];
            if (i % 2 == 1)
            {
                digit *= 2;
                if (digit > 9)
                {
                    digit -= 9;
                }
            }

            sum += digit;
        }

        return sum % 10 == 0;
    }

    /// <summary>ISO 13616: move the first four characters to the end, letters to numbers, mod 97 must be 1.</summary>
    public static bool IsValidIban(string candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var compact = candidate.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        if (compact.Length is < 15 or > 34)
        {
            return false;
        }

        var rearranged = compact[4..] + compact[..4];
        var number = new System.Text.StringBuilder(rearranged.Length * 2);
        foreach (var c in rearranged)
        {
            number.Append(char.IsAsciiDigit(c) ? (c - '0').ToString(System.Globalization.CultureInfo.InvariantCulture) : (c - 'A' + 10).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return BigInteger.Parse(number.ToString(), System.Globalization.CultureInfo.InvariantCulture) % 97 == 1;
    }

    // 9–15 digits (E.164 allows 15), and not an IPv4 address or a dotted version number.
    private static bool IsPhoneLike(string candidate)
    {
        var digits = candidate.Count(char.IsAsciiDigit);
        var dots = candidate.Count(c => c == '.');
        return digits is >= 9 and <= 15 && !(dots == 3 && !candidate.Contains(' ', StringComparison.Ordinal) && !candidate.Contains('-', StringComparison.Ordinal));
    }

    [GeneratedRegex(@"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[\s\S]*)", RegexOptions.CultureInvariant)]
    private static partial Regex PrivateKeyPattern();

    // OpenAI/Anthropic/AiMesh "sk-" keys, AWS access key ids, Google API keys, GitHub and Slack
    // tokens, JWTs, and bearer tokens.
    [GeneratedRegex(@"\b(?:sk-[A-Za-z0-9_\-]{20,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abprs]-[A-Za-z0-9\-]{10,}|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})|\b[Bb]earer\s+[A-Za-z0-9._~+/\-]{20,}=*", RegexOptions.CultureInvariant)]
    private static partial Regex ApiKeyPattern();

    [GeneratedRegex(@"\b[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z0-9\-]{1,63}\.)+[A-Za-z]{2,24}\b", RegexOptions.CultureInvariant)]
    private static partial Regex EmailPattern();

    [GeneratedRegex(@"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", RegexOptions.CultureInvariant)]
    private static partial Regex IbanPattern();

    [GeneratedRegex(@"\b\d(?:[ \-]?\d){12,18}\b", RegexOptions.CultureInvariant)]
    private static partial Regex CardPattern();

    // US social security numbers (not the never-issued 000, 666, 9xx areas) and UK national insurance numbers.
    [GeneratedRegex(@"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b|\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", RegexOptions.CultureInvariant)]
    private static partial Regex NationalIdPattern();

    // International (+country) or grouped local numbers: "+44 20 7946 0958", "(415) 555-0132", "+14155550132".
    [GeneratedRegex(@"(?<![\w+])(?:\+\d{9,15}\b|(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]\d{2,4}){1,4}(?!\w))", RegexOptions.CultureInvariant)]
    private static partial Regex PhonePattern();
}
