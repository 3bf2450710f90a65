using Google.Protobuf;

namespace AiMesh.Testing.Dapr;

/// <summary>One gRPC call the fake sidecar received (the request message as the SDK sent it).</summary>
public sealed record RecordedGrpcCall(string Method, IMessage Request);

/// <summary>
/// One call on the sidecar's HTTP API. <see cref="Path"/> is the path the caller used (after the
/// leading-'//' fix-up), e.g. <c>/v1.0/invoke/provider-adapter/method/chat</c>; <see cref="Target"/>
/// is the app-id or actor type it addressed, when it addressed one.
/// </summary>
public sealed record RecordedHttpCall(string Method, string Path, string? Target);

/// <summary>An event published through the fake sidecar, as the SDK handed it over.</summary>
public sealed record PublishedEvent(
    string PubsubName,
    string Topic,
    string Data,
    string DataContentType,
    IReadOnlyDictionary<string, string> Metadata);
