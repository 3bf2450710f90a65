using System.Globalization;
using System.Text.Json;

namespace AiMesh.Validation;

/// <summary>
/// Checks of OpenAI parameters AiMesh does not model but passes on (they arrive in the request's extra
/// fields): a provider would refuse them wrongly shaped, so the caller hears of it here, before any
/// quota is reserved or provider called.
/// </summary>
public static class ExtraParameters
{
    /// <summary>The most <c>top_logprobs</c> OpenAI returns.</summary>
    public const int MaxTopLogprobs = 20;

    /// <summary>Each problem as (wire name, message); none when every known extra field is well formed.</summary>
    public static IEnumerable<(string Param, string Message)> Problems(IReadOnlyDictionary<string, JsonElement>? extra)
    {
        if (extra is null || extra.Count == 0)
        {
            yield break;
        }

        if (extra.TryGetValue("logit_bias", out var bias) && !IsValidLogitBias(bias))
        {
            yield return ("logit_bias", "'logit_bias' must be an object mapping token ids (as strings, e.g. \"50256\") to numbers between -100 and 100.");
        }

        var logprobs = extra.TryGetValue("logprobs", out var l) ? l : default;
        if (logprobs.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.True or JsonValueKind.False))
        {
            yield return ("logprobs", "'logprobs' must be true or false.");
        }

        if (extra.TryGetValue("top_logprobs", out var top) && top.ValueKind != JsonValueKind.Null)
        {
            if (top.ValueKind != JsonValueKind.Number || !top.TryGetInt32(out var count) || count is < 0 or > MaxTopLogprobs)
            {
                yield return ("top_logprobs", $"'top_logprobs' must be an integer between 0 and {MaxTopLogprobs}.");
            }
            else if (logprobs.ValueKind != JsonValueKind.True)
            {
                yield return ("top_logprobs", "'top_logprobs' needs 'logprobs' set to true.");
            }
        }

        if (extra.TryGetValue("parallel_tool_calls", out var parallel) && parallel.ValueKind is not (JsonValueKind.Null or JsonValueKind.True or JsonValueKind.False))
        {
            yield return ("parallel_tool_calls", "'parallel_tool_calls' must be true or false.");
        }
    }

    private static bool IsValidLogitBias(JsonElement bias) => bias.ValueKind switch
    {
        JsonValueKind.Null => true,
        JsonValueKind.Object => bias.EnumerateObject().All(entry =>
            int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && entry.Value.ValueKind == JsonValueKind.Number && entry.Value.GetDouble() is >= -100 and <= 100),
        _ => false,
    };
}
