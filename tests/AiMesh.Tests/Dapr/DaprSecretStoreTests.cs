using AiMesh.BuildingBlocks.Dapr;
using AiMesh.Contracts;
using AiMesh.Testing.Dapr;
using Dapr.Client.Autogen.Grpc.v1;

namespace AiMesh.Tests.Dapr;

/// <summary>The secret port over a real DaprClient (gRPC GetSecret) against the fake sidecar.</summary>
public sealed class DaprSecretStoreTests
{
    [Fact]
    public async Task GetSecretAsync_LocalFileShape_ReturnsValue()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret(SecretNames.OpenAiApiKey, "sk-from-local-file");
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprSecretStore(dapr);

        var value = await sut.GetSecretAsync(SecretNames.OpenAiApiKey, CancellationToken.None);

        Assert.Equal("sk-from-local-file", value);
        var request = Assert.Single(sidecar.Requests<GetSecretRequest>());
        Assert.Equal("secretstore", request.StoreName);
        Assert.Equal("openai-api-key", request.Key);
    }

    /// <summary>
    /// daprd answers a secret the store does not have (local.file and Kubernetes say "secret … not found")
    /// with gRPC Internal — see the fake's <see cref="FakeDaprSidecar.MissingSecretStatus"/>.
    /// The port's contract is null for a missing secret.
    /// </summary>
    [Fact]
    public async Task GetSecretAsync_UnknownSecret_ReturnsNull()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret("some-other-secret", "x");
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprSecretStore(dapr);

        var value = await sut.GetSecretAsync(SecretNames.OpenAiApiKey, CancellationToken.None);

        Assert.Null(value);
    }

    [Fact]
    public async Task GetSecretAsync_KubernetesShapeWithSingleOtherKey_ReturnsThatValue()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret(SecretNames.OpenAiApiKey, new Dictionary<string, string> { ["api-key"] = "sk-from-kubernetes" });
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprSecretStore(dapr);

        var value = await sut.GetSecretAsync(SecretNames.OpenAiApiKey, CancellationToken.None);

        Assert.Equal("sk-from-kubernetes", value);
    }

    [Fact]
    public async Task GetSecretAsync_KubernetesShapeWithKeyNamedLikeSecret_ReturnsThatKey()
    {
        await using var sidecar = await FakeDaprSidecar.StartAsync();
        sidecar.AddSecret(SecretNames.OpenAiApiKey, new Dictionary<string, string>
        {
            ["openai-api-key"] = "sk-named",
            ["organization"] = "org-1",
        });
        using var dapr = sidecar.CreateDaprClient();
        var sut = new DaprSecretStore(dapr);

        var value = await sut.GetSecretAsync(SecretNames.OpenAiApiKey, CancellationToken.None);

        Assert.Equal("sk-named", value);
    }
}
