using System.Text;
using System.Text.Json;
using AiMesh.BuildingBlocks;
using AiMesh.Contracts;

namespace AiMesh.Bench.Micro;

/// <summary>The request bodies the microbenchmarks use: a one-turn chat and a long conversation with tools.</summary>
public static class SampleRequests
{
    public const string Small = "small";
    public const string Conversation = "conversation";

    public static byte[] Body(string kind) => kind switch
    {
        Small => Encoding.UTF8.GetBytes(
            "{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"max_tokens\":64,\"messages\":[" +
            "{\"role\":\"system\",\"content\":\"You are a terse assistant.\"}," +
            "{\"role\":\"user\",\"content\":\"Say hello in five words.\"}]}"),
        Conversation => ConversationBody(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown sample."),
    };

    public static ChatCompletionRequest Request(string kind) =>
        JsonSerializer.Deserialize<ChatCompletionRequest>(Body(kind), AiMeshJson.Options)!;

    private static byte[] ConversationBody()
    {
        var text = new StringBuilder("{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true},");
        text.Append("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Current weather for a city\",")
            .Append("\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}],");
        text.Append("\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant that answers about the weather.\"}");
        for (var turn = 0; turn < 20; turn++)
        {
            text.Append(",{\"role\":\"user\",\"content\":\"Question number ").Append(turn)
                .Append(": what is the weather like in Lisbon today, and should I take an umbrella with me?\"}");
            text.Append(",{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"It is sunny in Lisbon with a light breeze; no umbrella needed (answer ")
                .Append(turn).Append(").\"}]}");
        }

        text.Append("]}");
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
