using System.Text.Json;

namespace AiMesh.Validation;

public static class JsonText
{
    /// <summary>
    /// Whether the element is the string <paramref name="text"/>. <see cref="JsonElement.ValueEquals(string)"/>
    /// throws on any other kind, and a caller's <c>"type": 5</c> must be a 400, not a 500.
    /// </summary>
    public static bool IsText(this JsonElement element, string text) =>
        element.ValueKind == JsonValueKind.String && element.ValueEquals(text);
}
