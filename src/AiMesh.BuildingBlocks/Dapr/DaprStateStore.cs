using System.Globalization;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using Dapr;
using Dapr.Client;
using Grpc.Core;

namespace AiMesh.BuildingBlocks.Dapr;

/// <summary>
/// The state port over Dapr's state API. Every write carries its ETag with first-write
/// concurrency (StateEntry.SaveAsync would drop it); a lost ETag race becomes <c>false</c>.
/// Multi-key atomicity is only as good as the component's transactions: Redis applies
/// MULTI/EXEC without rollback, so a ledger that must be exact belongs in a store with real
/// transactions (e.g. state.postgresql v2).
/// </summary>
public sealed class DaprStateStore(DaprClient dapr) : IStateStore
{
    private const string Store = Components.StateStore;

    public async Task<StateItem<T>?> GetAsync<T>(string key, CancellationToken cancellationToken)
    {
        var (value, etag) = await dapr.GetStateAndETagAsync<T>(Store, key, cancellationToken: cancellationToken).ConfigureAwait(false);
        return value is null || string.IsNullOrEmpty(etag) ? null : new StateItem<T>(value, etag);
    }

    public Task<bool> TrySaveAsync<T>(string key, T value, string? etag, TimeSpan? ttl, CancellationToken cancellationToken) =>
        TryExecuteTransactionAsync([StateOperation.Upsert(key, value, etag, ttl)], cancellationToken);

    public Task<bool> TryDeleteAsync(string key, string? etag, CancellationToken cancellationToken) =>
        TryExecuteTransactionAsync([StateOperation.Delete(key, etag)], cancellationToken);

    public async Task<bool> TryExecuteTransactionAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var requests = operations.Select(ToTransactionRequest).ToList();
        try
        {
            await dapr.ExecuteStateTransactionAsync(Store, requests, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DaprException exception) when (IsETagMismatch(exception))
        {
            return false;
        }
        catch (DaprException exception) when (exception.InnerException is RpcException { StatusCode: StatusCode.Internal })
        {
            // daprd answers every failed transaction with Internal, a lost ETag race included:
            // it was a race when a precondition no longer holds; anything else is a real failure.
            if (await AnyPreconditionFailsAsync(operations, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            throw;
        }
    }

    private async Task<bool> AnyPreconditionFailsAsync(IReadOnlyList<StateOperation> operations, CancellationToken cancellationToken)
    {
        foreach (var operation in operations.Where(o => o.ETag is not null))
        {
            var (_, etag) = await dapr.GetStateAndETagAsync<System.Text.Json.JsonElement?>(Store, operation.Key, cancellationToken: cancellationToken).ConfigureAwait(false);
            var exists = !string.IsNullOrEmpty(etag);
            if (operation.ETag == StateETag.MustNotExist ? exists : etag != operation.ETag)
            {
                return true;
            }
        }

        return false;
    }

    internal static StateTransactionRequest ToTransactionRequest(StateOperation operation)
    {
        // MustNotExist is "first write, no ETag": the store refuses when the key exists.
        var etag = operation.ETag == StateETag.MustNotExist ? null : operation.ETag;
        var options = new StateOptions { Concurrency = operation.ETag is null ? ConcurrencyMode.LastWrite : ConcurrencyMode.FirstWrite };
        var metadata = operation.Ttl is { } ttl
            ? new Dictionary<string, string> { ["ttlInSeconds"] = Math.Max(1, (int)Math.Ceiling(ttl.TotalSeconds)).ToString(CultureInfo.InvariantCulture) }
            : null;
        return new StateTransactionRequest(
            operation.Key,
            operation.Value,
            operation.Value is null ? StateOperationType.Delete : StateOperationType.Upsert,
            etag,
            metadata,
            options);
    }

    internal static bool IsETagMismatch(DaprException exception) =>
        exception.InnerException is RpcException { StatusCode: StatusCode.Aborted or StatusCode.FailedPrecondition };
}
