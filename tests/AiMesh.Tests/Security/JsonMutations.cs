using System.Text.Json.Nodes;

namespace AiMesh.Tests.Security;

/// <summary>Documents with one value replaced by a value of another JSON kind: for the type-confusion tests.</summary>
internal static class JsonMutations
{
    /// <summary>Values of every JSON kind; some are still valid where they land, none may break a reader.</summary>
    public static readonly string[] Replacements = ["null", "0", "-1", "1.5", "\"\"", "\"x\"", "[]", "[null]", "{}", "true"];

    /// <summary>Every value of the document below its root, as the chain of keys and indexes that reaches it.</summary>
    public static List<object[]> Locations(JsonNode root)
    {
        var found = new List<object[]>();
        void Walk(JsonNode? node, List<object> path)
        {
            switch (node)
            {
                case JsonObject obj:
                    foreach (var (name, child) in obj)
                    {
                        path.Add(name);
                        found.Add([.. path]);
                        Walk(child, path);
                        path.RemoveAt(path.Count - 1);
                    }

                    break;
                case JsonArray array:
                    for (var i = 0; i < array.Count; i++)
                    {
                        path.Add(i);
                        found.Add([.. path]);
                        Walk(array[i], path);
                        path.RemoveAt(path.Count - 1);
                    }

                    break;
            }
        }

        Walk(root, []);
        return found;
    }

    public static JsonNode Replace(JsonNode original, object[] location, JsonNode? replacement)
    {
        var copy = original.DeepClone();
        var parent = copy;
        foreach (var step in location[..^1])
        {
            parent = step is string name ? parent[name]! : parent[(int)step]!;
        }

        if (location[^1] is string key)
        {
            parent[key] = replacement;
        }
        else
        {
            parent[(int)location[^1]] = replacement;
        }

        return copy;
    }

    public static string Describe(object[] location) => string.Concat(location.Select(step => step is string name ? "." + name : $"[{step}]"));
}
