using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace AiMesh.Testing.Dapr;

/// <summary>
/// A hand-written server binding of <c>dapr.proto.runtime.v1.Dapr</c> over the message types of
/// Dapr.Protos (which ships only the client). Grpc.AspNetCore finds each handler by the gRPC
/// method name, so every handler is a <c>public virtual</c> method named exactly like the RPC.
/// The behaviour (state, secrets, faults, recording) lives in <see cref="FakeDaprSidecar"/>.
/// </summary>
[BindServiceMethod(typeof(FakeDaprGrpcService), nameof(BindService))]
public class FakeDaprGrpcService(FakeDaprSidecar sidecar)
{
    public const string ServiceName = "dapr.proto.runtime.v1.Dapr";

    public static void BindService(ServiceBinderBase binder, FakeDaprGrpcService? service)
    {
        ArgumentNullException.ThrowIfNull(binder);
        binder.AddMethod(Unary(nameof(GetState), GetStateRequest.Parser, GetStateResponse.Parser), service is null ? null : service.GetState);
        binder.AddMethod(Unary(nameof(GetBulkState), GetBulkStateRequest.Parser, GetBulkStateResponse.Parser), service is null ? null : service.GetBulkState);
        binder.AddMethod(Unary(nameof(SaveState), SaveStateRequest.Parser, Empty.Parser), service is null ? null : service.SaveState);
        binder.AddMethod(Unary(nameof(DeleteState), DeleteStateRequest.Parser, Empty.Parser), service is null ? null : service.DeleteState);
        binder.AddMethod(Unary(nameof(ExecuteStateTransaction), ExecuteStateTransactionRequest.Parser, Empty.Parser), service is null ? null : service.ExecuteStateTransaction);
        binder.AddMethod(Unary(nameof(PublishEvent), PublishEventRequest.Parser, Empty.Parser), service is null ? null : service.PublishEvent);
        binder.AddMethod(Unary(nameof(GetSecret), GetSecretRequest.Parser, GetSecretResponse.Parser), service is null ? null : service.GetSecret);
        binder.AddMethod(Unary(nameof(GetBulkSecret), GetBulkSecretRequest.Parser, GetBulkSecretResponse.Parser), service is null ? null : service.GetBulkSecret);
    }

    public virtual Task<GetStateResponse> GetState(GetStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(GetState), request);
        sidecar.RequireStateStore(request.StoreName);
        var response = new GetStateResponse();
        if (sidecar.State.Get(request.StoreName, request.Key) is { } item)
        {
            response.Data = item.Value;
            response.Etag = item.ETag;
        }

        return Task.FromResult(response);
    }

    public virtual Task<GetBulkStateResponse> GetBulkState(GetBulkStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(GetBulkState), request);
        sidecar.RequireStateStore(request.StoreName);
        var response = new GetBulkStateResponse();
        foreach (var key in request.Keys)
        {
            var item = new BulkStateItem { Key = key };
            if (sidecar.State.Get(request.StoreName, key) is { } found)
            {
                item.Data = found.Value;
                item.Etag = found.ETag;
            }

            response.Items.Add(item);
        }

        return Task.FromResult(response);
    }

    /// <summary>daprd's bulk save: items in order, up to the first failure; an ETag mismatch is Aborted.</summary>
    public virtual Task<Empty> SaveState(SaveStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(SaveState), request);
        sidecar.RequireStateStore(request.StoreName);
        var writes = request.States.Select(s => new StateWrite(s.Key, s.Value, s.Etag?.Value, Concurrency(s.Options), s.Metadata)).ToList();
        var failure = sidecar.State.Apply(request.StoreName, writes, atomic: false, out var key);
        var withETag = writes.FirstOrDefault(w => w.Key == key)?.ETag is { Length: > 0 };
        ThrowIfFailed(failure, withETag, $"failed saving state in state store {request.StoreName}: {StoreError(failure, key)}");
        return Task.FromResult(new Empty());
    }

    public virtual Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(DeleteState), request);
        sidecar.RequireStateStore(request.StoreName);
        var write = new StateWrite(request.Key, null, request.Etag?.Value, Concurrency(request.Options), request.Metadata);
        var failure = sidecar.State.Apply(request.StoreName, [write], atomic: true, out var key);
        ThrowIfFailed(failure, withETag: true, $"failed deleting state with key {request.Key}: {StoreError(failure, key)}");
        return Task.FromResult(new Empty());
    }

    /// <summary>
    /// All operations or none. Like daprd (pkg/api/grpc ExecuteStateTransaction), ANY failure of the
    /// store's transaction, an ETag mismatch included, is answered <see cref="StatusCode.Internal"/>
    /// "error while executing state transaction: …": only SaveState and DeleteState map a mismatch to Aborted.
    /// </summary>
    public virtual Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(ExecuteStateTransaction), request);
        sidecar.RequireStateStore(request.StoreName);
        var writes = new List<StateWrite>();
        foreach (var operation in request.Operations)
        {
            var item = operation.Request;
            writes.Add(operation.OperationType switch
            {
                "upsert" => new StateWrite(item.Key, item.Value, item.Etag?.Value, Concurrency(item.Options), item.Metadata),
                "delete" => new StateWrite(item.Key, null, item.Etag?.Value, Concurrency(item.Options), item.Metadata),
                _ => throw new RpcException(new Status(StatusCode.Unimplemented, $"operation type {operation.OperationType} not supported")),
            });
        }

        var failure = sidecar.State.Apply(request.StoreName, writes, atomic: true, out var key);
        if (failure != FakeStateStore.Failure.None)
        {
            // Redis runs the transaction's writes as Lua scripts in MULTI/EXEC and returns the script's
            // raw error: there is no ETagError, so no "etag" in the message either.
            var deleting = writes.First(w => w.Key == key).Value is null;
            var reason = failure == FakeStateStore.Failure.Invalid ? StoreError(failure, key)
                : deleting ? $"ERR user_script:5: failed to delete {key}"
                : $"ERR user_script:9: failed to set key {key}";
            throw new RpcException(new Status(StatusCode.Internal, $"error while executing state transaction: {reason}"));
        }

        return Task.FromResult(new Empty());
    }

    public virtual Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(PublishEvent), request);
        sidecar.Publish(request);
        return Task.FromResult(new Empty());
    }

    public virtual Task<GetSecretResponse> GetSecret(GetSecretRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(GetSecret), request);
        var response = new GetSecretResponse();
        response.Data.Add(new Dictionary<string, string>(sidecar.ReadSecret(request.StoreName, request.Key)));
        return Task.FromResult(response);
    }

    public virtual Task<GetBulkSecretResponse> GetBulkSecret(GetBulkSecretRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        sidecar.Enter(nameof(GetBulkSecret), request);
        var response = new GetBulkSecretResponse();
        foreach (var (name, values) in sidecar.ReadAllSecrets(request.StoreName))
        {
            var secret = new SecretResponse();
            secret.Secrets.Add(new Dictionary<string, string>(values));
            response.Data.Add(name, secret);
        }

        return Task.FromResult(response);
    }

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        new(MethodType.Unary, ServiceName, name, Marshal(request), Marshal(response));

    private static Marshaller<T> Marshal<T>(MessageParser<T> parser) where T : IMessage<T> =>
        Marshallers.Create(message => message.ToByteArray(), parser.ParseFrom);

    private static StateOptions.Types.StateConcurrency Concurrency(StateOptions? options) =>
        options?.Concurrency ?? StateOptions.Types.StateConcurrency.ConcurrencyUnspecified;

    // What daprd's Redis store says (its Lua script fails with "failed to set key …").
    private static string StoreError(FakeStateStore.Failure failure, string? key) => failure == FakeStateStore.Failure.Invalid
        ? $"invalid etag value: strconv.Atoi: parsing ETag of key {key}: invalid syntax"
        : $"possible etag mismatch. error from state store: ERR failed to set key {key}";

    private static void ThrowIfFailed(FakeStateStore.Failure failure, bool withETag, string message)
    {
        switch (failure)
        {
            case FakeStateStore.Failure.None:
                return;
            case FakeStateStore.Failure.Invalid:
                throw new RpcException(new Status(StatusCode.InvalidArgument, message));
            default:
                // daprd answers Aborted for an ETag mismatch; Redis reports a refused first write without an ETag as a plain error.
                throw new RpcException(new Status(withETag ? StatusCode.Aborted : StatusCode.Internal, message));
        }
    }
}
