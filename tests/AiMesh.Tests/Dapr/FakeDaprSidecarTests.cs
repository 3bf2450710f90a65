using System.Net;
using AiMesh.BuildingBlocks.Services;
using AiMesh.Contracts;
using AiMesh.Testing.Dapr;
using AiMesh.Validation;
using Dapr.Client;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace AiMesh.Tests.Dapr;

/// <summary>
/// The fake sidecar answers as daprd does where product code depends on it, and the sidecar
/// health check and service status probe of AddDaprBuildingBlocks work against it.
/// </summary>
public sealed class FakeDaprSidecarTests
{
    private sealed record Item(string Name);

    /// <summary>daprd maps an ETag mismatch of SaveState (not of a transaction) to Aborted, which the SDK turns into false.</summary>
    [Fact]
    public async Task TrySaveStateAsync_StaleETag_ReturnsFalseLikeDaprd()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();
        await dapr.SaveStateAsync("statestore", "k", new Item("one"));
        var (_, etag) = await dapr.GetStateAndETagAsync<Item>("statestore", "k");
        await dapr.SaveStateAsync("statestore", "k", new Item("two"));

        var written = await dapr.TrySaveStateAsync("statestore", "k", new Item("three"), etag);

        Assert.Equal("1", etag);
        Assert.False(written);
        Assert.Equal(new Item("two"), await dapr.GetStateAsync<Item>("statestore", "k"));
    }

    [Fact]
    public async Task SaveStateAsync_UnknownStore_FailsWithInvalidArgument()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => dapr.SaveStateAsync("no-such-store", "k", new Item("x")));

        Assert.Equal(StatusCode.InvalidArgument, Assert.IsType<RpcException>(failure.InnerException).StatusCode);
    }

    [Fact]
    public async Task CheckHealthAsync_FollowsSidecarReadiness()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        using var dapr = sidecar.CreateDaprClient();

        var ready = await dapr.CheckHealthAsync();
        var outbound = await dapr.CheckOutboundHealthAsync();
        sidecar.Healthy = false;
        var notReady = await dapr.CheckHealthAsync();

        Assert.True(ready);
        Assert.True(outbound);
        Assert.False(notReady);
    }

    /// <summary>The actor runtime joins "http://host:port/" and "/v1.0/…"; daprd accepts the resulting "//v1.0/…".</summary>
    [Fact]
    public async Task HttpApi_PathWithLeadingDoubleSlash_IsServed()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.SetActorState("QuotaActor", "t1", "quota", "{\"windowRequests\":3}");
        using var http = new HttpClient();

        using var response = await http.GetAsync(new Uri(sidecar.HttpEndpoint + "//v1.0/actors/QuotaActor/t1/state/quota"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"windowRequests\":3}", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task HealthReady_OfDaprModeService_FollowsSidecarHealth()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var validation = new DaprServiceFactory<ValidationEntryPoint>(sidecar);
        using var app = validation.CreateClient();

        using var up = await app.GetAsync(new Uri("/health/ready", UriKind.Relative));
        sidecar.Healthy = false;
        using var down = await app.GetAsync(new Uri("/health/ready", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, up.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
    }

    [Fact]
    public async Task ProbeAsync_ThroughInvoke_ReportsEachServiceReadiness()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        await using var validation = new DaprServiceFactory<ValidationEntryPoint>(sidecar);
        sidecar.RegisterApp(AppIds.Validation, validation.CreateClient());
        await using var router = DaprCallerSide.Services(sidecar);

        var status = await router.GetRequiredService<IServiceStatusProbe>().ProbeAsync(CancellationToken.None);

        Assert.Equal("healthy", status[AppIds.Validation]);
        Assert.Equal("unhealthy", status[AppIds.ProviderAdapter]);
        Assert.Equal(AppIds.All.Count, status.Count);
        Assert.Contains(sidecar.HttpCalls, c => c == new RecordedHttpCall("GET", "/v1.0/invoke/validation/method/health/ready", "validation"));
    }
}
