using System.Globalization;

namespace AiMesh.Bench;

/// <summary>The few command-line options the bench tools take: <c>--name value</c>.</summary>
internal static class Arguments
{
    public static string? Value(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    public static double Number(string[] args, string name, double fallback) =>
        Value(args, name) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;

    public static string Required(string[] args, string name) =>
        Value(args, name) ?? throw new ArgumentException($"{name} is required.");
}
