using AiMesh.BuildingBlocks.Embedded;
using AiMesh.Contracts;
using AiMesh.CostLedger.Ledger;
using AiMesh.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.CostLedger;

public sealed class UsageLedgerTests : IDisposable
{
    private static readonly DateTimeOffset Today = new(2026, 11, 23, 9, 30, 0, TimeSpan.Zero);
    private readonly SqliteDatabase _database = new(Options.Create(new EmbeddedOptions { DatabasePath = EmbeddedGateway.NewDatabasePath() }));

    private UsageLedger CreateSut() => new(new SqliteStateStore(_database, TimeProvider.System), NullLogger<UsageLedger>.Instance);

    private static UsageEvent Usage(string requestId, string tenant = "t1", decimal cost = 0.25m) => new()
    {
        RequestId = requestId,
        TenantId = tenant,
        Model = "gpt-4o-mini",
        PromptTokens = 10,
        CompletionTokens = 5,
        CostUsd = cost,
        Status = 200,
        Timestamp = Today,
    };

    [Fact]
    public async Task Handle_SameEventTwice_CountsOnce()
    {
        var sut = CreateSut();

        await sut.HandleAsync(Usage("r1"), CancellationToken.None);
        await sut.HandleAsync(Usage("r1"), CancellationToken.None);
        var rows = await sut.GetUsageAsync(Query(UsageDimensions.Tenant), CancellationToken.None);

        var row = Assert.Single(rows);
        Assert.Equal(1, row.Requests);
        Assert.Equal(0.25m, row.CostUsd);
    }

    [Fact]
    public async Task Handle_ManyConcurrentEvents_CountsEveryOneExactly()
    {
        var sut = CreateSut();

        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() => sut.HandleAsync(Usage($"r{i}", tenant: i % 2 == 0 ? "even" : "odd"), CancellationToken.None))));
        var rows = await sut.GetUsageAsync(Query(UsageDimensions.Tenant), CancellationToken.None);

        Assert.Equal(["even", "odd"], rows.Select(r => r.Tenant));
        Assert.All(rows, r => Assert.Equal(50, r.Requests));
        Assert.Equal(25m, rows.Sum(r => r.CostUsd));
        Assert.Equal(1000, rows.Sum(r => r.PromptTokens));
    }

    [Fact]
    public async Task GetUsage_FiltersByTenant()
    {
        var sut = CreateSut();
        await sut.HandleAsync(Usage("r1", "a"), CancellationToken.None);
        await sut.HandleAsync(Usage("r2", "b"), CancellationToken.None);

        var rows = await sut.GetUsageAsync(Query(UsageDimensions.Tenant) with { Tenant = "b" }, CancellationToken.None);

        Assert.Equal("b", Assert.Single(rows).Tenant);
    }

    [Fact]
    public async Task GetUsage_GroupsByAnyDimensionsAcrossDays()
    {
        var sut = CreateSut();
        await sut.HandleAsync(Usage("r1", "a") with { Provider = "openai", DeploymentId = "d1" }, CancellationToken.None);
        await sut.HandleAsync(Usage("r2", "b") with { Provider = "openai", DeploymentId = "d2" }, CancellationToken.None);
        await sut.HandleAsync(Usage("r3", "a") with { Provider = "anthropic", DeploymentId = "d3", Timestamp = Today.AddDays(1) }, CancellationToken.None);
        var from = DateOnly.FromDateTime(Today.UtcDateTime);

        var byProvider = await sut.GetUsageAsync(new UsageQuery(from, from.AddDays(1), [UsageDimensions.Provider]), CancellationToken.None);
        var byMonthAndTenant = await sut.GetUsageAsync(new UsageQuery(from, from.AddDays(1), [UsageDimensions.Month, UsageDimensions.Tenant]), CancellationToken.None);
        var oneDeployment = await sut.GetUsageAsync(new UsageQuery(from, from.AddDays(1), [UsageDimensions.Day]) { Deployment = "d2" }, CancellationToken.None);

        Assert.Equal([("anthropic", 1L), ("openai", 2L)], byProvider.Select(r => (r.Provider!, r.Requests)));
        Assert.All(byProvider, r => Assert.Null(r.Tenant));
        Assert.Equal([("2026-11", "a", 2L), ("2026-11", "b", 1L)], byMonthAndTenant.Select(r => (r.Month!, r.Tenant!, r.Requests)));
        Assert.Equal("2026-11-23", Assert.Single(oneDeployment).Day);
    }

    [Fact]
    public async Task Handle_FailedRequestWithoutTokens_IsNotBilled()
    {
        var sut = CreateSut();

        await sut.HandleAsync(Usage("r1") with { Status = 502, PromptTokens = 0, CompletionTokens = 0, CostUsd = 0 }, CancellationToken.None);

        Assert.Empty(await sut.GetUsageAsync(Query(UsageDimensions.Tenant), CancellationToken.None));
        Assert.Null(await sut.GetRecordAsync("r1", CancellationToken.None));
    }

    private static UsageQuery Query(params string[] groupBy) =>
        new(DateOnly.FromDateTime(Today.UtcDateTime), DateOnly.FromDateTime(Today.UtcDateTime), groupBy);

    public void Dispose() => _database.Dispose();
}
