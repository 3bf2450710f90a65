using System.Text.Json;
using AiMesh.BuildingBlocks.Secrets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AiMesh.BuildingBlocks.Embedded;

/// <summary>
/// Secrets for the embedded mode: first the environment variable named after the secret
/// (<c>openai-api-key</c> → <c>OPENAI_API_KEY</c>), then the JSON file Dapr's local.file
/// secret store would read. The file is re-read when it changes, so a rotated key needs no restart.
/// </summary>
public sealed class FileAndEnvironmentSecretStore(IConfiguration configuration, IOptions<EmbeddedOptions> options) : ISecretStore
{
    private readonly object _gate = new();
    private (DateTime WrittenAt, Dictionary<string, string> Values)? _file;

    public static string EnvironmentName(string secretName) =>
        secretName.Replace('-', '_').Replace(':', '_').ToUpperInvariant();

    public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var fromEnvironment = configuration[EnvironmentName(name)];
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return Task.FromResult<string?>(fromEnvironment);
        }

        return Task.FromResult(ReadFile()?.GetValueOrDefault(name));
    }

    private Dictionary<string, string>? ReadFile()
    {
        var path = options.Value.SecretsFile;
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            return null;
        }

        var writtenAt = File.GetLastWriteTimeUtc(path);
        lock (_gate)
        {
            if (_file is { } cached && cached.WrittenAt == writtenAt)
            {
                return cached.Values;
            }

            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            Flatten(document.RootElement, prefix: null, values);
            _file = (writtenAt, values);
            return values;
        }
    }

    // Dapr's local.file store joins nested keys with ':' (its default nestedSeparator).
    private static void Flatten(JsonElement element, string? prefix, Dictionary<string, string> into)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                Flatten(property.Value, prefix is null ? property.Name : $"{prefix}:{property.Name}", into);
            }
        }
        else if (prefix is not null)
        {
            into[prefix] = element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText();
        }
    }
}
