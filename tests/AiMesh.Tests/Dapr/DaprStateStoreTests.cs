using System.Text.Json.Nodes;
using AiMesh.BuildingBlocks.Dapr;
using AiMesh.BuildingBlocks.State;
using AiMesh.Contracts;
using AiMesh.Testing.Dapr;
using Dapr;
using Dapr.Client.Autogen.Grpc.v1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace AiMesh.Tests.Dapr;

/// <summary>The state port over a real DaprClient (gRPC) against the fake sidecar.</summary>
public sealed class DaprStateStoreTests
{
    private const string Store = FakeDaprSidecar.StateStoreName;

    private sealed record Budget(string TenantId, decimal SpentUsd);

    private sealed record Attempt(string DeploymentId, StreamEventKind Kind, string? Note);

    [Fact]
    public async Task TrySaveAsync_ThenGetAsync_RoundTripsValueWithETag()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);

        var saved = await sut.TrySaveAsync("budget||t1", new Budget("t1", 1.25m), etag: null, ttl: null, CancellationToken.None);
        var first = await sut.GetAsync<Budget>("budget||t1", CancellationToken.None);
        var updated = await sut.TrySaveAsync("budget||t1", new Budget("t1", 2.5m), first!.ETag, ttl: null, CancellationToken.None);
        var second = await sut.GetAsync<Budget>("budget||t1", CancellationToken.None);

        Assert.True(saved);
        Assert.Equal(new Budget("t1", 1.25m), first.Value);
        Assert.Equal("1", first.ETag);
        Assert.True(updated);
        Assert.Equal(new Budget("t1", 2.5m), second!.Value);
        Assert.Equal("2", second.ETag);
        Assert.Equal(2.5m, sidecar.State.GetJson(Store, "budget||t1")?["spentUsd"]?.GetValue<decimal>());
    }

    [Fact]
    public async Task GetAsync_MissingKey_ReturnsNull()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);

        Assert.Null(await sut.GetAsync<Budget>("nothing-here", CancellationToken.None));
    }

    /// <summary>
    /// What the store writes it must read back. Values are written with AiMeshJson (enums as strings);
    /// the store as AddDaprBuildingBlocks composes it must read them with the same options.
    /// </summary>
    [Fact]
    public async Task GetAsync_ValueWithEnumWrittenByTrySave_RoundTrips()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var services = DaprCallerSide.Services(sidecar);
        var sut = services.GetRequiredService<IStateStore>();
        var attempt = new Attempt("openai", StreamEventKind.End, Note: null);

        await sut.TrySaveAsync("attempt||1", attempt, etag: null, ttl: null, CancellationToken.None);
        var read = await sut.GetAsync<Attempt>("attempt||1", CancellationToken.None);

        Assert.Equal("End", sidecar.State.GetJson(Store, "attempt||1")?["kind"]?.GetValue<string>());
        Assert.Equal(attempt, read?.Value);
    }

    [Fact]
    public async Task TrySaveAsync_StaleETag_ReturnsFalseAndKeepsValue()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);
        await sut.TrySaveAsync("budget||t1", new Budget("t1", 1m), etag: null, ttl: null, CancellationToken.None);
        var stale = (await sut.GetAsync<Budget>("budget||t1", CancellationToken.None))!.ETag;
        await sut.TrySaveAsync("budget||t1", new Budget("t1", 2m), stale, ttl: null, CancellationToken.None);

        var written = await sut.TrySaveAsync("budget||t1", new Budget("t1", 99m), stale, ttl: null, CancellationToken.None);

        Assert.False(written);
        Assert.Equal(new Budget("t1", 2m), (await sut.GetAsync<Budget>("budget||t1", CancellationToken.None))!.Value);
    }

    [Fact]
    public async Task TrySaveAsync_MustNotExistOnExistingKey_ReturnsFalseAndKeepsValue()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);
        await sut.TrySaveAsync("budget||t1", new Budget("t1", 1m), etag: null, ttl: null, CancellationToken.None);

        var written = await sut.TrySaveAsync("budget||t1", new Budget("t1", 5m), StateETag.MustNotExist, ttl: null, CancellationToken.None);

        Assert.False(written);
        Assert.Equal(1m, sidecar.State.GetJson(Store, "budget||t1")?["spentUsd"]?.GetValue<decimal>());
    }

    [Fact]
    public async Task TrySaveAsync_MustNotExistOnNewKey_WritesWithFirstWriteAndNoETag()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);

        var written = await sut.TrySaveAsync("budget||t9", new Budget("t9", 3m), StateETag.MustNotExist, ttl: null, CancellationToken.None);

        Assert.True(written);
        var item = Assert.Single(Assert.Single(sidecar.Requests<ExecuteStateTransactionRequest>()).Operations).Request;
        Assert.Null(item.Etag);
        Assert.Equal(StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite, item.Options.Concurrency);
    }

    [Fact]
    public async Task TryExecuteTransactionAsync_OneStaleETag_ReturnsFalseAndChangesNothing()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);
        await sut.TrySaveAsync("a", new Budget("a", 1m), etag: null, ttl: null, CancellationToken.None);
        await sut.TrySaveAsync("b", new Budget("b", 1m), etag: null, ttl: null, CancellationToken.None);
        var a = (await sut.GetAsync<Budget>("a", CancellationToken.None))!.ETag;
        var staleB = (await sut.GetAsync<Budget>("b", CancellationToken.None))!.ETag;
        await sut.TrySaveAsync("b", new Budget("b", 2m), staleB, ttl: null, CancellationToken.None);

        var written = await sut.TryExecuteTransactionAsync(
            [
                StateOperation.Upsert("a", new Budget("a", 10m), a),
                StateOperation.Upsert("c", new Budget("c", 10m), StateETag.MustNotExist),
                StateOperation.Upsert("b", new Budget("b", 10m), staleB),
            ],
            CancellationToken.None);

        Assert.False(written);
        Assert.Equal(1m, sidecar.State.GetJson(Store, "a")?["spentUsd"]?.GetValue<decimal>());
        Assert.Equal(2m, sidecar.State.GetJson(Store, "b")?["spentUsd"]?.GetValue<decimal>());
        Assert.Null(sidecar.State.GetJson(Store, "c"));
        Assert.Equal(a, sidecar.State.GetETag(Store, "a"));
    }

    [Fact]
    public async Task TryExecuteTransactionAsync_AllETagsCurrent_WritesAndDeletesTogether()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);
        await sut.TrySaveAsync("a", new Budget("a", 1m), etag: null, ttl: null, CancellationToken.None);
        await sut.TrySaveAsync("gone", new Budget("gone", 1m), etag: null, ttl: null, CancellationToken.None);
        var a = (await sut.GetAsync<Budget>("a", CancellationToken.None))!.ETag;
        var gone = (await sut.GetAsync<Budget>("gone", CancellationToken.None))!.ETag;

        var written = await sut.TryExecuteTransactionAsync(
            [StateOperation.Upsert("a", new Budget("a", 7m), a), StateOperation.Delete("gone", gone)],
            CancellationToken.None);

        Assert.True(written);
        Assert.Equal(7m, sidecar.State.GetJson(Store, "a")?["spentUsd"]?.GetValue<decimal>());
        Assert.Null(sidecar.State.GetJson(Store, "gone"));
    }

    [Fact]
    public async Task TryDeleteAsync_StaleETag_ReturnsFalseAndKeepsKey()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);
        await sut.TrySaveAsync("k", new Budget("k", 1m), etag: null, ttl: null, CancellationToken.None);
        await sut.TrySaveAsync("k", new Budget("k", 2m), etag: null, ttl: null, CancellationToken.None);

        var deleted = await sut.TryDeleteAsync("k", etag: "1", CancellationToken.None);

        Assert.False(deleted);
        Assert.NotNull(sidecar.State.GetJson(Store, "k"));
    }

    [Fact]
    public async Task TrySaveAsync_WithTtl_PassesTtlInSecondsMetadata()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);

        await sut.TrySaveAsync("cache||x", new Budget("x", 0m), etag: null, TimeSpan.FromSeconds(89.2), CancellationToken.None);

        var request = Assert.Single(sidecar.Requests<ExecuteStateTransactionRequest>());
        Assert.Equal(Store, request.StoreName);
        var operation = Assert.Single(request.Operations);
        Assert.Equal("upsert", operation.OperationType);
        Assert.Equal("cache||x", operation.Request.Key);
        Assert.Equal("90", operation.Request.Metadata["ttlInSeconds"]);
        Assert.Equal(StateOptions.Types.StateConcurrency.ConcurrencyLastWrite, operation.Request.Options.Concurrency);
        Assert.Equal("x", JsonNode.Parse(operation.Request.Value.ToStringUtf8())?["tenantId"]?.GetValue<string>());
    }

    /// <summary>A store outage is not a lost race: it must throw, so the caller (e.g. an event handler) fails and is retried.</summary>
    [Fact]
    public async Task TryExecuteTransactionAsync_SidecarUnavailable_ThrowsInsteadOfReturningFalse()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprStateStore(dapr);
        sidecar.FailNext(nameof(FakeDaprGrpcService.ExecuteStateTransaction), 1, StatusCode.Unavailable, "connection refused");

        var failure = await Assert.ThrowsAnyAsync<DaprException>(() =>
            sut.TrySaveAsync("k", new Budget("k", 1m), etag: null, ttl: null, CancellationToken.None));
        var retried = await sut.TrySaveAsync("k", new Budget("k", 1m), etag: null, ttl: null, CancellationToken.None);

        Assert.Equal(StatusCode.Unavailable, Assert.IsType<RpcException>(failure.InnerException).StatusCode);
        Assert.True(retried);
        Assert.Equal(2, sidecar.Requests<ExecuteStateTransactionRequest>().Count);
    }
}
