using System.Net.Sockets;
using System.Text;
using DotNet.Testcontainers.Builders;
using Testcontainers.Redis;

namespace AiMesh.Tests.Dapr;

/// <summary>
/// Runs where a Docker engine exists (Redis is Dapr's state store and pub/sub in self-hosted mode);
/// says why it is skipped where none does. Testcontainers throws DockerUnavailableException from
/// Build(), within a second, when no engine answers.
/// </summary>
public sealed class RedisContainerTests
{
    [SkippableFact]
    public async Task RedisContainer_WithDockerEngine_AnswersPing()
    {
        RedisContainer? container = null;
        try
        {
            container = new RedisBuilder("redis:7-alpine").Build();
        }
        catch (DockerUnavailableException)
        {
            // No engine: skipped below, with the reason.
        }

        Skip.If(container is null, "no Docker engine on this machine");
        await using (container)
        {
            await container.StartAsync();
            var endpoint = container.GetConnectionString().Split(',')[0];
            var separator = endpoint.LastIndexOf(':');
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(endpoint[..separator], int.Parse(endpoint[(separator + 1)..], System.Globalization.CultureInfo.InvariantCulture));
            var stream = tcp.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer);

            Assert.Equal("+PONG\r\n", Encoding.ASCII.GetString(buffer, 0, read));
        }
    }
}
