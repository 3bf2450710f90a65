using System.Collections.Concurrent;
using AiMesh.BuildingBlocks.Embedded;
using AiMesh.BuildingBlocks.PubSub;
using AiMesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AiMesh.Tests.BuildingBlocks;

public sealed class OutboxEventBusTests
{
    /// <summary>A bus on a database of its own, which disposing the returned services closes.</summary>
    private static (OutboxEventBus Bus, ServiceProvider Services) CreateSut(string databasePath, FlakyConsumer consumer, SteadyConsumer? second = null) =>
        CreateSut(new SqliteDatabase(Options.Create(new EmbeddedOptions { DatabasePath = databasePath })), consumer, second, ownsDatabase: true);

    private static (OutboxEventBus Bus, ServiceProvider Services) CreateSut(SqliteDatabase database, FlakyConsumer consumer, SteadyConsumer? second = null, bool ownsDatabase = false)
    {
        var services = new ServiceCollection();
        if (ownsDatabase)
        {
            // Registered through a factory, so the container disposes it with itself.
            services.AddSingleton(_ => database);
        }

        services.AddSingleton(consumer);
        services.AddEventConsumer<Ping, FlakyConsumer>("pings", "pings-dead");
        if (second is not null)
        {
            services.AddSingleton(second);
            services.AddEventConsumer<Ping, SteadyConsumer>("pings", "pings-dead");
        }

        var provider = services.BuildServiceProvider();
        if (ownsDatabase)
        {
            provider.GetRequiredService<SqliteDatabase>();
        }

        var bus = new OutboxEventBus(
            database,
            provider.GetServices<EventSubscription>(),
            provider,
            Options.Create(new EventBusOptions { FirstRetryDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = 5 }),
            TimeProvider.System,
            NullLogger<OutboxEventBus>.Instance);
        return (bus, provider);
    }

    [Fact]
    public async Task Publish_ConsumerFailsTwice_IsDeliveredUntilItSucceeds()
    {
        var consumer = new FlakyConsumer(failures: 2);
        var (bus, services) = CreateSut(EmbeddedGateway.NewDatabasePath(), consumer);
        await using var _ = services;
        await bus.StartAsync(CancellationToken.None);

        await bus.PublishAsync("pings", new Ping(7), CancellationToken.None);
        await WaitUntilAsync(() => consumer.Handled.Count == 1);
        await bus.StopAsync(CancellationToken.None);

        Assert.Equal(3, consumer.Attempts);
        Assert.Equal(7, consumer.Handled.Single().Id);
        Assert.Equal(0, bus.PendingCount());
    }

    [Fact]
    public async Task Publish_BeforeACrash_IsDeliveredAfterTheRestart()
    {
        var path = EmbeddedGateway.NewDatabasePath();
        var (stopped, firstServices) = CreateSut(path, new FlakyConsumer(0));
        await using (firstServices)
        {
            // The bus loop never runs: as if the process died right after publishing.
            await stopped.PublishAsync("pings", new Ping(1), CancellationToken.None);
            await stopped.PublishAsync("pings", new Ping(2), CancellationToken.None);
            Assert.Equal(2, stopped.PendingCount());
        }

        var consumer = new FlakyConsumer(0);
        var (restarted, services) = CreateSut(path, consumer);
        await using var _ = services;
        await restarted.StartAsync(CancellationToken.None);
        await WaitUntilAsync(() => consumer.Handled.Count == 2);
        await restarted.StopAsync(CancellationToken.None);

        Assert.Equal([1, 2], consumer.Handled.Select(p => p.Id).Order());
    }

    [Fact]
    public async Task Publish_ConsumerAlwaysFails_IsDeadLetteredAfterMaxAttempts()
    {
        var consumer = new FlakyConsumer(failures: int.MaxValue);
        var (bus, services) = CreateSut(EmbeddedGateway.NewDatabasePath(), consumer);
        await using var _ = services;
        await bus.StartAsync(CancellationToken.None);

        await bus.PublishAsync("pings", new Ping(1), CancellationToken.None);
        await WaitUntilAsync(() => consumer.Attempts >= 5 && bus.PendingCount() == 0);
        await Task.Delay(200);
        await bus.StopAsync(CancellationToken.None);

        Assert.Equal(5, consumer.Attempts);
        Assert.Empty(consumer.Handled);
    }

    [Fact]
    public async Task Publish_OneOfTwoSubscribersFails_TheOtherGetsItOnceAndTheFailingOneUntilItSucceeds()
    {
        var flaky = new FlakyConsumer(failures: 3);
        var steady = new SteadyConsumer();
        var (bus, services) = CreateSut(EmbeddedGateway.NewDatabasePath(), flaky, steady);
        await using var _ = services;
        await bus.StartAsync(CancellationToken.None);

        await bus.PublishAsync("pings", new Ping(1), CancellationToken.None);
        await bus.PublishAsync("pings", new Ping(2), CancellationToken.None);
        await WaitUntilAsync(() => flaky.Handled.Count == 2 && bus.PendingCount() == 0);
        await Task.Delay(100);
        await bus.StopAsync(CancellationToken.None);

        Assert.Equal([1, 2], flaky.Handled.Select(p => p.Id).Order());
        Assert.Equal([1, 2], steady.Handled.Select(p => p.Id).Order());
    }

    [Fact]
    public async Task Publish_SubscriberFailsThenTheHostStops_TheRetryRowSurvivesTheRestart()
    {
        var path = EmbeddedGateway.NewDatabasePath();
        var down = new FlakyConsumer(failures: int.MaxValue);
        var firstSteady = new SteadyConsumer();
        var (first, firstServices) = CreateSut(path, down, firstSteady);
        await using (firstServices)
        {
            await first.StartAsync(CancellationToken.None);
            await first.PublishAsync("pings", new Ping(5), CancellationToken.None);
            await WaitUntilAsync(() => down.Attempts >= 1 && firstSteady.Handled.Count == 1);
            await first.StopAsync(CancellationToken.None);
        }

        var up = new FlakyConsumer(failures: 0);
        var steady = new SteadyConsumer();
        var (restarted, services) = CreateSut(path, up, steady);
        await using var _ = services;
        await restarted.StartAsync(CancellationToken.None);
        await WaitUntilAsync(() => up.Handled.Count == 1 && restarted.PendingCount() == 0);
        await Task.Delay(100);
        await restarted.StopAsync(CancellationToken.None);

        // The subscriber that had it already does not get it again; the one that failed gets it from its own row.
        Assert.Equal(5, up.Handled.Single().Id);
        Assert.Empty(steady.Handled);
    }

    [Fact]
    public async Task Publish_ABacklogWithOneFailure_EachIsDeliveredOnceAndNoRowIsLeft()
    {
        var path = EmbeddedGateway.NewDatabasePath();
        var (publisher, publisherServices) = CreateSut(path, new FlakyConsumer(0));
        await using (publisherServices)
        {
            // Published before the loop runs, so one pass takes them all.
            for (var id = 1; id <= 20; id++)
            {
                await publisher.PublishAsync("pings", new Ping(id), CancellationToken.None);
            }
        }

        var flaky = new FlakyConsumer(failures: 2, onlyId: 7);
        var steady = new SteadyConsumer();
        var (bus, services) = CreateSut(path, flaky, steady);
        await using var _ = services;
        await bus.StartAsync(CancellationToken.None);
        await WaitUntilAsync(() => flaky.Handled.Count == 20 && bus.PendingCount() == 0);
        await Task.Delay(100);
        await bus.StopAsync(CancellationToken.None);

        Assert.Equal(Enumerable.Range(1, 20), flaky.Handled.Select(p => p.Id).Order());
        Assert.Equal(Enumerable.Range(1, 20), steady.Handled.Select(p => p.Id).Order());
        using var database = new SqliteDatabase(Options.Create(new EmbeddedOptions { DatabasePath = path }));
        Assert.Equal(0, database.Read(connection => (long)SqliteDatabase.Command(connection, null, "SELECT COUNT(*) FROM outbox").ExecuteScalar()!));
    }

    [Fact]
    public async Task Publish_InAGroupWhoseOtherWriteThrows_EachEventIsDeliveredOnceAsPublished()
    {
        // The group's first run is rolled back and run again: the publishes must not leave their first run's
        // rows or kept objects behind, nor hand one event out for another.
        using var database = new SqliteDatabase(Options.Create(new EmbeddedOptions { DatabasePath = EmbeddedGateway.NewDatabasePath() }));
        var consumer = new FlakyConsumer(0);
        var (bus, services) = CreateSut(database, consumer);
        await using var _ = services;
        await bus.StartAsync(CancellationToken.None);

        Task first, failing, second;
        using (AiMesh.BuildingBlocks.DurableWrites.Together())
        {
            first = bus.PublishAsync("pings", new Ping(1), CancellationToken.None);
            failing = database.WriteAsync<int>((_, _) => throw new InvalidOperationException("boom"), CancellationToken.None);
            second = bus.PublishAsync("pings", new Ping(2), CancellationToken.None);
        }

        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        await bus.PublishAsync("pings", new Ping(3), CancellationToken.None);
        await WaitUntilAsync(() => consumer.Handled.Count == 3 && bus.PendingCount() == 0);
        await Task.Delay(100);
        await bus.StopAsync(CancellationToken.None);

        Assert.Equal([1, 2, 3], consumer.Handled.Select(p => p.Id).Order());
    }

    [Fact]
    public async Task Publish_ABacklogForABatchingSubscriber_ComesInOneBatchAndTheOtherSubscriberGetsEachEvent()
    {
        var services = new ServiceCollection();
        var batching = new BatchingConsumer();
        var steady = new SteadyConsumer();
        services.AddSingleton(batching).AddEventConsumer<Ping, BatchingConsumer>("pings", "pings-dead");
        services.AddSingleton(steady).AddEventConsumer<Ping, SteadyConsumer>("pings", "pings-dead");
        await using var provider = services.BuildServiceProvider();
        using var database = new SqliteDatabase(Options.Create(new EmbeddedOptions { DatabasePath = EmbeddedGateway.NewDatabasePath() }));
        var bus = new OutboxEventBus(database, provider.GetServices<EventSubscription>(), provider, Options.Create(new EventBusOptions()), TimeProvider.System, NullLogger<OutboxEventBus>.Instance);

        // Published before the loop runs: one pass finds all five.
        for (var id = 1; id <= 5; id++)
        {
            await bus.PublishAsync("pings", new Ping(id), CancellationToken.None);
        }

        await bus.StartAsync(CancellationToken.None);
        await WaitUntilAsync(() => steady.Handled.Count == 5 && bus.PendingCount() == 0);
        await bus.StopAsync(CancellationToken.None);

        Assert.Equal([5], batching.Batches.Select(b => b.Count));
        Assert.Equal([1, 2, 3, 4, 5], batching.Batches.Single().Select(p => p.Id).Order());
        Assert.Equal(0, batching.Singles);
        Assert.Equal([1, 2, 3, 4, 5], steady.Handled.Select(p => p.Id).Order());
    }

    [Fact]
    public async Task DeleteRuns_DeletesExactlyTheGivenIds_NotTheGapsBetweenThem()
    {
        using var database = new SqliteDatabase(Options.Create(new EmbeddedOptions { DatabasePath = EmbeddedGateway.NewDatabasePath() }));
        await database.WriteAsync((connection, transaction) =>
        {
            for (var id = 1; id <= 12; id++)
            {
                var insert = SqliteDatabase.Command(connection, transaction, "INSERT INTO outbox (id, subscriber, topic, payload) VALUES ($id, '*', 'pings', x'00')");
                insert.Parameters.AddWithValue("$id", id);
                insert.ExecuteNonQuery();
            }

            // Unsorted, with gaps (rows another pass still owns: a retry not due yet, a dead letter) and single ids.
            OutboxEventBus.DeleteRuns(connection, transaction, [9, 1, 2, 3, 6, 5, 11]);
            return 0;
        }, CancellationToken.None);

        var left = database.Read(connection =>
        {
            using var reader = SqliteDatabase.Command(connection, null, "SELECT id FROM outbox ORDER BY id").ExecuteReader();
            var ids = new List<long>();
            while (reader.Read())
            {
                ids.Add(reader.GetInt64(0));
            }

            return ids;
        });
        Assert.Equal([4L, 7L, 8L, 10L, 12L], left);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "condition not met in time");
            await Task.Delay(10);
        }
    }

    public sealed record Ping(int Id);

    public sealed class SteadyConsumer : IEventConsumer<Ping>
    {
        public ConcurrentQueue<Ping> Handled { get; } = new();

        public Task HandleAsync(Ping message, CancellationToken cancellationToken)
        {
            Handled.Enqueue(message);
            return Task.CompletedTask;
        }
    }

    public sealed class BatchingConsumer : IBatchEventConsumer<Ping>
    {
        private int _singles;

        public int Singles => Volatile.Read(ref _singles);

        public ConcurrentQueue<IReadOnlyList<Ping>> Batches { get; } = new();

        public Task HandleAsync(Ping message, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _singles);
            return Task.CompletedTask;
        }

        public Task HandleBatchAsync(IReadOnlyList<Ping> messages, CancellationToken cancellationToken)
        {
            Batches.Enqueue(messages);
            return Task.CompletedTask;
        }
    }

    /// <summary>Fails its first <paramref name="failures"/> attempts (of the ping <paramref name="onlyId"/> only, when given).</summary>
    public sealed class FlakyConsumer(int failures, int? onlyId = null) : IEventConsumer<Ping>
    {
        private int _attempts;

        public int Attempts => Volatile.Read(ref _attempts);

        public ConcurrentQueue<Ping> Handled { get; } = new();

        public Task HandleAsync(Ping message, CancellationToken cancellationToken)
        {
            if ((onlyId is null || message.Id == onlyId) && Interlocked.Increment(ref _attempts) <= failures)
            {
                throw new InvalidOperationException("consumer down");
            }

            Handled.Enqueue(message);
            return Task.CompletedTask;
        }
    }
}
