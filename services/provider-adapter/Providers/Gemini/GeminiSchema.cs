using System.Text.Json;
using System.Text.Json.Nodes;

namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// A JSON Schema (as OpenAI callers write tool parameters and response schemas) as the OpenAPI subset
/// Gemini's <c>Schema</c> accepts: upper-case types, <c>nullable</c> instead of a null type, local
/// <c>$ref</c>s inlined, and keywords Gemini rejects (<c>additionalProperties</c>, <c>$schema</c>, ...) left out.
/// </summary>
public static class GeminiSchema
{
    private const int MaxDepth = 32;

    private static readonly HashSet<string> Formats = new(StringComparer.Ordinal) { "date-time", "enum", "int32", "int64", "float", "double" };

    private static readonly string[] Copied =
    [
        "description", "title", "nullable", "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength",
        "pattern", "minProperties", "maxProperties", "propertyOrdering",
    ];

    public static JsonObject Convert(JsonElement schema) => Convert(schema, schema, 0);

    private static JsonObject Convert(JsonElement schema, JsonElement root, int depth)
    {
        if (depth > MaxDepth || schema.ValueKind != JsonValueKind.Object)
        {
            return new JsonObject { ["type"] = "STRING" };
        }

        if (ChatRequestParts.Str(schema, "$ref") is { } reference)
        {
            var target = Resolve(root, reference);
            var resolved = target is { } t ? Convert(t, root, depth + 1) : new JsonObject { ["type"] = "STRING" };
            if (ChatRequestParts.Str(schema, "description") is { } description)
            {
                resolved["description"] = description;
            }

            return resolved;
        }

        var result = new JsonObject();
        if (schema.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String)
            {
                result["type"] = type.GetString()!.ToUpperInvariant();
            }
            else if (type.ValueKind == JsonValueKind.Array)
            {
                var names = type.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.String).Select(t => t.GetString()!).ToList();
                if (names.FirstOrDefault(n => n != "null") is { } first)
                {
                    result["type"] = first.ToUpperInvariant();
                }

                if (names.Contains("null"))
                {
                    result["nullable"] = true;
                }
            }
        }

        foreach (var name in Copied)
        {
            if (schema.TryGetProperty(name, out var value) && !result.ContainsKey(name))
            {
                result[name] = ChatRequestParts.Node(value);
            }
        }

        if (ChatRequestParts.Str(schema, "format") is { } format && Formats.Contains(format))
        {
            result["format"] = format;
        }

        var enumValues = schema.TryGetProperty("enum", out var e) && e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().ToList()
            : schema.TryGetProperty("const", out var c) ? [c]
            : null;
        if (enumValues is { Count: > 0 } && enumValues.All(v => v.ValueKind == JsonValueKind.String))
        {
            result["enum"] = new JsonArray(enumValues.Select(v => (JsonNode?)v.GetString()).ToArray());
            result.TryAdd("type", "STRING");
        }

        if (schema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
        {
            var converted = new JsonObject();
            foreach (var property in properties.EnumerateObject())
            {
                converted[property.Name] = Convert(property.Value, root, depth + 1);
            }

            result["properties"] = converted;
            if (schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array)
            {
                var names = required.EnumerateArray()
                    .Where(r => r.ValueKind == JsonValueKind.String && converted.ContainsKey(r.GetString()!))
                    .Select(r => (JsonNode?)r.GetString())
                    .ToArray();
                if (names.Length > 0)
                {
                    result["required"] = new JsonArray(names);
                }
            }
        }

        if (schema.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Object)
        {
            result["items"] = Convert(items, root, depth + 1);
        }

        var variants = (schema.TryGetProperty("anyOf", out var anyOf) || schema.TryGetProperty("oneOf", out anyOf)) && anyOf.ValueKind == JsonValueKind.Array
            ? anyOf.EnumerateArray().ToList()
            : schema.TryGetProperty("allOf", out var allOf) && allOf.ValueKind == JsonValueKind.Array && allOf.GetArrayLength() == 1
                ? allOf.EnumerateArray().ToList()
                : null;
        if (variants is not null)
        {
            var nonNull = variants.Where(v => ChatRequestParts.Str(v, "type") != "null").ToList();
            if (nonNull.Count < variants.Count)
            {
                result["nullable"] = true;
            }

            if (nonNull.Count == 1)
            {
                foreach (var (name, value) in Convert(nonNull[0], root, depth + 1).ToList())
                {
                    result.TryAdd(name, value?.DeepClone());
                }
            }
            else if (nonNull.Count > 1)
            {
                result["anyOf"] = new JsonArray(nonNull.Select(v => (JsonNode?)Convert(v, root, depth + 1)).ToArray());
            }
        }

        return result;
    }

    private static JsonElement? Resolve(JsonElement root, string reference)
    {
        foreach (var prefix in new[] { "#/$defs/", "#/definitions/" })
        {
            if (reference.StartsWith(prefix, StringComparison.Ordinal)
                && root.TryGetProperty(prefix[2..^1], out var definitions) && definitions.ValueKind == JsonValueKind.Object
                && definitions.TryGetProperty(reference[prefix.Length..], out var target))
            {
                return target;
            }
        }

        return null;
    }
}
