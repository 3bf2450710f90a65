namespace AiMesh.BuildingBlocks.Secrets;

/// <summary>Reads secrets by name (e.g. <c>openai-api-key</c>). Null when the secret does not exist.</summary>
public interface ISecretStore
{
    Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken);
}
