using System.Text.Json;
using System.Text.Json.Serialization;

namespace AiMesh.BuildingBlocks;

/// <summary>The one JSON setup for everything AiMesh stores, publishes or sends between services.</summary>
public static class AiMeshJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
