using AiMesh.BuildingBlocks.Secrets;
using AiMesh.Contracts;
using Dapr.Client;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>
/// Secrets from the Dapr secret store. A local.file store answers {name: value}; a Kubernetes
/// secret answers its keys, so the key named like the secret wins, else the only key.
/// </summary>
public sealed class DaprSecretStore(DaprClient dapr) : ISecretStore
{
    public async Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Dictionary<string, string> values;
        try
        {
            values = await dapr.GetSecretAsync(Components.SecretStore, name, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (global::Dapr.DaprException exception) when (IsMissing(exception))
        {
            return null;
        }

        if (values.TryGetValue(name, out var value))
        {
            return value;
        }

        return values.Count == 1 ? values.Values.First() : null;
    }

    // daprd answers a missing secret with Internal "... not found" (local.file and Kubernetes alike).
    private static bool IsMissing(global::Dapr.DaprException exception) => exception.InnerException is Grpc.Core.RpcException rpc
        && (rpc.StatusCode is Grpc.Core.StatusCode.NotFound or Grpc.Core.StatusCode.InvalidArgument
            || (rpc.StatusCode == Grpc.Core.StatusCode.Internal && rpc.Status.Detail.Contains("not found", StringComparison.OrdinalIgnoreCase)));
}
