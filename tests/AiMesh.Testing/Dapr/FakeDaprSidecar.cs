using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr.Client;
using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiMesh.Testing.Dapr;

/// <summary>
/// A fake Dapr sidecar on two loopback ports, for driving the real Dapr SDK without daprd:
/// <list type="bullet">
/// <item><see cref="GrpcEndpoint"/> (h2c): <c>dapr.proto.runtime.v1.Dapr</c> — state with integer ETags,
/// transactions, publish (recorded), secrets (see <see cref="FakeDaprGrpcService"/>);</item>
/// <item><see cref="HttpEndpoint"/> (HTTP/1.1): <c>/v1.0/healthz[/outbound]</c>, service invocation
/// forwarded to registered apps with the response streamed through, actor method calls forwarded to
/// the registered actor host (one call at a time per actor id, as placement guarantees), and the
/// actor state API kept in memory.</item>
/// </list>
/// Every call is recorded; faults can be queued per gRPC method and per invoked app.
/// Error codes and messages follow daprd's (pkg/api/grpc, pkg/api/errors), so product code is
/// tested against what a real sidecar answers.
/// </summary>
public sealed class FakeDaprSidecar : IAsyncDisposable
{
    public const string StateStoreName = "statestore";
    public const string PubSubName = "pubsub";
    public const string SecretStoreName = "secretstore";

    private static readonly HashSet<string> HopByHopHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "TE", "Trailer", "Host",
    };

    private readonly ConcurrentDictionary<string, HttpClient> _apps = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HttpClient> _actorHosts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Store, string Name), IReadOnlyDictionary<string, string>> _secrets = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Status>> _grpcFaults = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<HttpStatusCode>> _invokeFaults = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Action<IMessage>>> _interceptors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Type, string Id), SemaphoreSlim> _actorTurns = new();
    private readonly Lock _actorStateGate = new();
    private readonly Dictionary<(string Type, string Id, string Key), string> _actorState = [];
    private readonly ConcurrentBag<HttpClient> _ownedClients = [];
    private WebApplication? _app;

    private FakeDaprSidecar(TimeProvider time)
    {
        State = new FakeStateStore(time);
    }

    /// <summary>e.g. <c>http://127.0.0.1:40123</c>: the gRPC API (HTTP/2 without TLS).</summary>
    public string GrpcEndpoint { get; private set; } = string.Empty;

    /// <summary>e.g. <c>http://127.0.0.1:40124</c>: the HTTP API.</summary>
    public string HttpEndpoint { get; private set; } = string.Empty;

    /// <summary>The state store behind the state API (key/value, ETags, TTL).</summary>
    public FakeStateStore State { get; }

    /// <summary>Component names the sidecar knows; calls naming another answer InvalidArgument, as daprd does.</summary>
    public ISet<string> StateStores { get; } = new HashSet<string>(StringComparer.Ordinal) { StateStoreName };

    public ISet<string> PubSubs { get; } = new HashSet<string>(StringComparer.Ordinal) { PubSubName };

    public ISet<string> SecretStores { get; } = new HashSet<string>(StringComparer.Ordinal) { SecretStoreName };

    /// <summary>
    /// The status of GetSecret for a secret that does not exist. daprd wraps the store's "secret … not found"
    /// (local.file, Kubernetes) in <see cref="StatusCode.Internal"/> (pkg/api/errors/secrets.go GetFailed).
    /// </summary>
    public StatusCode MissingSecretStatus { get; set; } = StatusCode.Internal;

    /// <summary>When false, <c>/v1.0/healthz</c> answers 500 ERR_HEALTH_NOT_READY, as a daprd that is not ready does.</summary>
    public bool Healthy { get; set; } = true;

    public ConcurrentQueue<RecordedGrpcCall> GrpcCalls { get; } = new();

    public ConcurrentQueue<RecordedHttpCall> HttpCalls { get; } = new();

    public ConcurrentQueue<PublishedEvent> Published { get; } = new();

    /// <summary>The two settings an app or DaprClient needs to use this sidecar.</summary>
    public IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["DAPR_GRPC_ENDPOINT"] = GrpcEndpoint,
        ["DAPR_HTTP_ENDPOINT"] = HttpEndpoint,
    };

    public static async Task<FakeDaprSidecar> StartAsync(TimeProvider? time = null, ILoggerProvider? logs = null)
    {
        var sidecar = new FakeDaprSidecar(time ?? TimeProvider.System);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        ListenOptions? grpc = null;
        ListenOptions? http = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                grpc = listen;
            });
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                http = listen;
            });
        });
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(sidecar);

        var app = builder.Build();
        sidecar.MapApi(app);
        await app.StartAsync();
        sidecar._app = app;
        sidecar.GrpcEndpoint = $"http://127.0.0.1:{((IPEndPoint)grpc!.EndPoint).Port}";
        sidecar.HttpEndpoint = $"http://127.0.0.1:{((IPEndPoint)http!.EndPoint).Port}";
        return sidecar;
    }

    /// <summary>A real DaprClient pointed at this sidecar (dispose it).</summary>
    public DaprClient CreateDaprClient() =>
        new DaprClientBuilder().UseGrpcEndpoint(GrpcEndpoint).UseHttpEndpoint(HttpEndpoint).Build();

    /// <summary>Service invocation of <paramref name="appId"/> goes to this client (e.g. a WebApplicationFactory's).</summary>
    public void RegisterApp(string appId, HttpClient app)
    {
        ArgumentNullException.ThrowIfNull(app);
        _apps[appId] = app;
    }

    /// <summary>Service invocation of <paramref name="appId"/> goes to a server listening at <paramref name="baseAddress"/>.</summary>
    public void RegisterApp(string appId, Uri baseAddress) => RegisterApp(appId, OwnedClient(baseAddress));

    /// <summary>Calls on actors of <paramref name="actorType"/> go to this app (as <c>PUT /actors/{type}/{id}/method/{method}</c>).</summary>
    public void RegisterActorHost(string actorType, HttpClient app)
    {
        ArgumentNullException.ThrowIfNull(app);
        _actorHosts[actorType] = app;
    }

    public void RegisterActorHost(string actorType, Uri baseAddress) => RegisterActorHost(actorType, OwnedClient(baseAddress));

    /// <summary>A secret shaped like local.file answers it: one key, named like the secret.</summary>
    public void AddSecret(string name, string value, string store = SecretStoreName) =>
        AddSecret(name, new Dictionary<string, string>(StringComparer.Ordinal) { [name] = value }, store);

    /// <summary>A secret with any keys (a Kubernetes secret answers its data keys).</summary>
    public void AddSecret(string name, IReadOnlyDictionary<string, string> values, string store = SecretStoreName) =>
        _secrets[(store, name)] = new Dictionary<string, string>(values, StringComparer.Ordinal);

    /// <summary>The next <paramref name="times"/> calls of gRPC method <paramref name="method"/> (e.g. "ExecuteStateTransaction") fail with this status.</summary>
    public void FailNext(string method, int times, StatusCode status, string? detail = null)
    {
        var queue = _grpcFaults.GetOrAdd(method, _ => new ConcurrentQueue<Status>());
        for (var i = 0; i < times; i++)
        {
            queue.Enqueue(new Status(status, detail ?? $"injected failure of {method}"));
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> when the next call of gRPC method <paramref name="method"/> arrives,
    /// before the sidecar handles it: e.g. another writer wins a race, deterministically.
    /// </summary>
    public void OnNext(string method, Action<IMessage> action) =>
        _interceptors.GetOrAdd(method, _ => new ConcurrentQueue<Action<IMessage>>()).Enqueue(action);

    /// <summary>The next <paramref name="times"/> invocations of <paramref name="appId"/> are answered by the sidecar with this status.</summary>
    public void FailNextInvocations(string appId, int times, HttpStatusCode status)
    {
        var queue = _invokeFaults.GetOrAdd(appId, _ => new ConcurrentQueue<HttpStatusCode>());
        for (var i = 0; i < times; i++)
        {
            queue.Enqueue(status);
        }
    }

    /// <summary>The recorded requests of one gRPC message type, in arrival order.</summary>
    public IReadOnlyList<T> Requests<T>() where T : IMessage => GrpcCalls.Select(c => c.Request).OfType<T>().ToList();

    /// <summary>An actor's state value as JSON, or null when it has none.</summary>
    public JsonNode? GetActorState(string actorType, string actorId, string key)
    {
        lock (_actorStateGate)
        {
            return _actorState.TryGetValue((actorType, actorId, key), out var json) ? JsonNode.Parse(json) : null;
        }
    }

    public void SetActorState(string actorType, string actorId, string key, string json)
    {
        lock (_actorStateGate)
        {
            _actorState[(actorType, actorId, key)] = json;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Idempotent: disposing twice is harmless.
        if (Interlocked.Exchange(ref _app, null) is { } app)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        else
        {
            return;
        }

        foreach (var client in _ownedClients)
        {
            client.Dispose();
        }

        foreach (var turn in _actorTurns.Values)
        {
            turn.Dispose();
        }
    }

    internal void Enter(string method, IMessage request)
    {
        GrpcCalls.Enqueue(new RecordedGrpcCall(method, request));
        if (_interceptors.TryGetValue(method, out var interceptors) && interceptors.TryDequeue(out var interceptor))
        {
            interceptor(request);
        }

        if (_grpcFaults.TryGetValue(method, out var faults) && faults.TryDequeue(out var status))
        {
            throw new RpcException(status);
        }
    }

    internal void RequireStateStore(string store)
    {
        if (!StateStores.Contains(store))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"state store {store} is not found"));
        }
    }

    internal void Publish(PublishEventRequest request)
    {
        if (!PubSubs.Contains(request.PubsubName))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"pubsub {request.PubsubName} is not found"));
        }

        if (string.IsNullOrEmpty(request.Topic))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"topic is empty in pubsub {request.PubsubName}"));
        }

        Published.Enqueue(new PublishedEvent(
            request.PubsubName,
            request.Topic,
            request.Data.ToStringUtf8(),
            request.DataContentType,
            new Dictionary<string, string>(request.Metadata, StringComparer.Ordinal)));
    }

    internal IReadOnlyDictionary<string, string> ReadSecret(string store, string name)
    {
        RequireSecretStore(store);
        return _secrets.TryGetValue((store, name), out var values)
            ? values
            : throw new RpcException(new Status(MissingSecretStatus, $"failed getting secret with key {name} from secret store {store}: secret {name} not found"));
    }

    internal IEnumerable<(string Name, IReadOnlyDictionary<string, string> Values)> ReadAllSecrets(string store)
    {
        RequireSecretStore(store);
        return _secrets.Where(s => s.Key.Store == store).Select(s => (s.Key.Name, s.Value)).ToList();
    }

    private void RequireSecretStore(string store)
    {
        if (!SecretStores.Contains(store))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"failed finding secret store with key {store}"));
        }
    }

    private HttpClient OwnedClient(Uri baseAddress)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        var text = baseAddress.ToString();
        var client = new HttpClient { BaseAddress = new Uri(text.EndsWith('/') ? text : text + "/"), Timeout = Timeout.InfiniteTimeSpan };
        _ownedClients.Add(client);
        return client;
    }

    private void MapApi(WebApplication app)
    {
        // The actor runtime joins "http://host:port/" and "/v1.0/…": daprd accepts the double slash, so must we.
        app.Use((context, next) =>
        {
            if (context.Request.Path.Value is { } path && path.StartsWith("//", StringComparison.Ordinal))
            {
                context.Request.Path = new PathString("/" + path.TrimStart('/'));
            }

            return next(context);
        });
        app.UseRouting();
        app.Use((context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/v1.0"))
            {
                var target = context.GetRouteValue("appId") ?? context.GetRouteValue("actorType");
                HttpCalls.Enqueue(new RecordedHttpCall(context.Request.Method, context.Request.Path.Value!, target as string));
            }

            return next(context);
        });

        app.MapGrpcService<FakeDaprGrpcService>();
        app.MapGet("/v1.0/healthz", Health);
        app.MapGet("/v1.0/healthz/outbound", Health);
        app.Map("/v1.0/invoke/{appId}/method/{**method}", InvokeAsync);
        app.Map("/v1.0/actors/{actorType}/{actorId}/method/{**method}", InvokeActorAsync);
        app.MapGet("/v1.0/actors/{actorType}/{actorId}/state/{key}", ReadActorState);
        app.MapMethods("/v1.0/actors/{actorType}/{actorId}/state", ["PUT", "POST"], SaveActorStateAsync);
    }

    private IResult Health() => Healthy
        ? Results.NoContent()
        : Results.Json(new { errorCode = "ERR_HEALTH_NOT_READY", message = "dapr is not ready" }, statusCode: StatusCodes.Status500InternalServerError);

    private async Task InvokeAsync(HttpContext context, string appId, string? method)
    {
        if (_invokeFaults.TryGetValue(appId, out var faults) && faults.TryDequeue(out var status))
        {
            await WriteErrorAsync(context, (int)status, "ERR_DIRECT_INVOKE", $"fail to invoke, id: {appId}, err: injected failure {(int)status}");
            return;
        }

        if (!_apps.TryGetValue(appId, out var app))
        {
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "ERR_DIRECT_INVOKE", $"fail to invoke, id: {appId}, err: app id {appId} is not registered with the fake sidecar");
            return;
        }

        await ForwardAsync(context, app, new HttpMethod(context.Request.Method), (method ?? string.Empty) + context.Request.QueryString);
    }

    private async Task InvokeActorAsync(HttpContext context, string actorType, string actorId, string? method)
    {
        if (!_actorHosts.TryGetValue(actorType, out var host))
        {
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "ERR_ACTOR_INVOKE_METHOD", $"error invoke actor method: did not find address for actor {actorType}/{actorId}");
            return;
        }

        // One call at a time per actor, as daprd's placement and turn-based locking guarantee.
        var turn = _actorTurns.GetOrAdd((actorType, actorId), _ => new SemaphoreSlim(1, 1));
        await turn.WaitAsync(context.RequestAborted);
        try
        {
            var path = $"actors/{Uri.EscapeDataString(actorType)}/{Uri.EscapeDataString(actorId)}/method/{method}";
            await ForwardAsync(context, host, HttpMethod.Put, path);
        }
        finally
        {
            turn.Release();
        }
    }

    private IResult ReadActorState(string actorType, string actorId, string key)
    {
        lock (_actorStateGate)
        {
            return _actorState.TryGetValue((actorType, actorId, key), out var json)
                ? Results.Text(json, "application/json", Encoding.UTF8)
                : Results.NoContent();
        }
    }

    // Body: [{"operation":"upsert"|"delete","request":{"key":"…","value":<json>,"metadata":{…}}}]
    private async Task<IResult> SaveActorStateAsync(HttpContext context, string actorType, string actorId)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException exception)
        {
            return Results.Json(new { errorCode = "ERR_MALFORMED_REQUEST", message = exception.Message }, statusCode: StatusCodes.Status400BadRequest);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return Results.Json(new { errorCode = "ERR_MALFORMED_REQUEST", message = "expected an array of operations" }, statusCode: StatusCodes.Status400BadRequest);
            }

            lock (_actorStateGate)
            {
                foreach (var operation in document.RootElement.EnumerateArray())
                {
                    var kind = operation.GetProperty("operation").GetString();
                    var request = operation.GetProperty("request");
                    var key = request.GetProperty("key").GetString()!;
                    if (string.Equals(kind, "delete", StringComparison.OrdinalIgnoreCase))
                    {
                        _actorState.Remove((actorType, actorId, key));
                    }
                    else
                    {
                        _actorState[(actorType, actorId, key)] = request.TryGetProperty("value", out var value) ? value.GetRawText() : "null";
                    }
                }
            }
        }

        return Results.NoContent();
    }

    private static async Task ForwardAsync(HttpContext context, HttpClient target, HttpMethod method, string relativeUri)
    {
        using var request = new HttpRequestMessage(method, new Uri(relativeUri.TrimStart('/'), UriKind.Relative));
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0
            || HttpMethods.IsPost(context.Request.Method) || HttpMethods.IsPut(context.Request.Method) || HttpMethods.IsPatch(context.Request.Method))
        {
            request.Content = new StreamContent(context.Request.Body);
        }

        foreach (var (name, values) in context.Request.Headers)
        {
            if (HopByHopHeaders.Contains(name) || name.Equals("dapr-api-token", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, values.ToArray()))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
            }
        }

        HttpResponseMessage response;
        try
        {
            response = await target.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        }
        catch (HttpRequestException exception)
        {
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "ERR_DIRECT_INVOKE", $"fail to invoke: {exception.Message}");
            return;
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!HopByHopHeaders.Contains(name))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            // Streamed through chunk by chunk: an NDJSON or SSE answer reaches the caller as it is written.
            await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted);
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
    }

    private static Task WriteErrorAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { errorCode = code, message }, context.RequestAborted);
    }
}
