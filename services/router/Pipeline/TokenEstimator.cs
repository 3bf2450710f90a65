using System.Text.Json;
using AiMesh.Contracts;

namespace AiMesh.Router.Pipeline;

/// <summary>
/// A cheap upper-bound guess of a request's tokens for the quota reservation (about four
/// characters a token plus framing); the actual figures settle the reservation afterwards.
/// </summary>
public static class TokenEstimator
{
    public static int EstimatePromptTokens(ChatCompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        long chars = 0;
        foreach (var message in request.Messages ?? [])
        {
            chars += 16;
            chars += message.Content switch
            {
                { ValueKind: JsonValueKind.String } text => text.GetString()!.Length,
                { ValueKind: JsonValueKind.Array } parts => parts.GetRawText().Length,
                _ => 0,
            };
            chars += message.ToolCalls is { } calls ? calls.GetRawText().Length : 0;
        }

        chars += request.Tools is { } tools ? tools.GetRawText().Length : 0;
        return (int)Math.Min(int.MaxValue, (chars + 3) / 4);
    }

    public static int EstimateOutputTokens(ChatCompletionRequest request, int fallback)
    {
        ArgumentNullException.ThrowIfNull(request);
        return (request.MaxCompletionTokens ?? request.MaxTokens ?? fallback) * Math.Max(1, request.N ?? 1);
    }
}
