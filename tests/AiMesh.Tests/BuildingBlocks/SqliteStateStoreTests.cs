using AiMesh.BuildingBlocks.Embedded;
using AiMesh.BuildingBlocks.State;
using AiMesh.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AiMesh.Tests.BuildingBlocks;

public sealed class SqliteStateStoreTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
    private readonly SqliteDatabase _database = new(Options.Create(new EmbeddedOptions { DatabasePath = EmbeddedGateway.NewDatabasePath() }));

    private SqliteStateStore CreateSut() => new(_database, _time);

    [Fact]
    public async Task Save_ThenGet_ReturnsValueWithETag()
    {
        var sut = CreateSut();

        Assert.True(await sut.TrySaveAsync("k", new Item("a", 1), etag: null, ttl: null, CancellationToken.None));
        var item = await sut.GetAsync<Item>("k", CancellationToken.None);

        Assert.Equal(new Item("a", 1), item?.Value);
        Assert.Equal("1", item?.ETag);
    }

    [Fact]
    public async Task Save_WithStaleETag_IsRefusedAndKeepsTheValue()
    {
        var sut = CreateSut();
        await sut.TrySaveAsync("k", new Item("a", 1), null, null, CancellationToken.None);
        var first = await sut.GetAsync<Item>("k", CancellationToken.None);
        Assert.True(await sut.TrySaveAsync("k", new Item("b", 2), first!.ETag, null, CancellationToken.None));

        var stale = await sut.TrySaveAsync("k", new Item("c", 3), first.ETag, null, CancellationToken.None);

        Assert.False(stale);
        Assert.Equal(new Item("b", 2), (await sut.GetAsync<Item>("k", CancellationToken.None))?.Value);
    }

    [Fact]
    public async Task Save_MustNotExist_OnlyFirstWriteWins()
    {
        var sut = CreateSut();

        Assert.True(await sut.TrySaveAsync("k", new Item("a", 1), StateETag.MustNotExist, null, CancellationToken.None));
        Assert.False(await sut.TrySaveAsync("k", new Item("b", 2), StateETag.MustNotExist, null, CancellationToken.None));
        Assert.Equal("a", (await sut.GetAsync<Item>("k", CancellationToken.None))?.Value.Name);
    }

    [Fact]
    public async Task Transaction_WithOneStaleETag_ChangesNothing()
    {
        var sut = CreateSut();
        await sut.TrySaveAsync("a", new Item("a", 1), null, null, CancellationToken.None);

        var written = await sut.TryExecuteTransactionAsync(
            [StateOperation.Upsert("b", new Item("b", 1), StateETag.MustNotExist), StateOperation.Upsert("a", new Item("a", 2), "999")],
            CancellationToken.None);

        Assert.False(written);
        Assert.Null(await sut.GetAsync<Item>("b", CancellationToken.None));
        Assert.Equal(1, (await sut.GetAsync<Item>("a", CancellationToken.None))?.Value.Count);
    }

    [Fact]
    public async Task Ttl_Expires_AndTheKeyCountsAsAbsent()
    {
        var sut = CreateSut();
        await sut.TrySaveAsync("k", new Item("a", 1), null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.NotNull(await sut.GetAsync<Item>("k", CancellationToken.None));

        _time.Advance(TimeSpan.FromSeconds(11));

        Assert.Null(await sut.GetAsync<Item>("k", CancellationToken.None));
        Assert.True(await sut.TrySaveAsync("k", new Item("b", 1), StateETag.MustNotExist, null, CancellationToken.None));
    }

    [Fact]
    public async Task Delete_WithMatchingETag_RemovesTheKey()
    {
        var sut = CreateSut();
        await sut.TrySaveAsync("k", new Item("a", 1), null, null, CancellationToken.None);

        Assert.False(await sut.TryDeleteAsync("k", "42", CancellationToken.None));
        Assert.True(await sut.TryDeleteAsync("k", "1", CancellationToken.None));
        Assert.Null(await sut.GetAsync<Item>("k", CancellationToken.None));
    }

    public void Dispose() => _database.Dispose();

    private sealed record Item(string Name, int Count);
}
