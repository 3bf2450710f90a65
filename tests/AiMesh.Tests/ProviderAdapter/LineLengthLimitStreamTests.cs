using System.Text;
using AiMesh.ProviderAdapter.Providers;

namespace AiMesh.Tests.ProviderAdapter;

public sealed class LineLengthLimitStreamTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task LinesUpToTheLimit_PassThroughWhateverTheReadSize(int readSize)
    {
        var text = string.Concat(Enumerable.Range(0, 5).Select(i => $"data: {new string((char)('a' + i), 90)}\n"));
        await using var stream = new LineLengthLimitStream(new MemoryStream(Encoding.ASCII.GetBytes(text)), maxLineBytes: 100);
        var copy = new MemoryStream();
        var buffer = new byte[readSize];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            copy.Write(buffer, 0, read);
        }

        Assert.Equal(text, Encoding.ASCII.GetString(copy.ToArray()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(64)]
    [InlineData(4096)]
    public async Task ALineOverTheLimit_FailsWithIOException(int readSize)
    {
        var text = "data: short\n" + "data: " + new string('x', 200) + "\ndata: never seen\n";
        await using var stream = new LineLengthLimitStream(new MemoryStream(Encoding.ASCII.GetBytes(text)), maxLineBytes: 100);
        var buffer = new byte[readSize];

        var failure = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        });

        Assert.Contains("longer than 100 bytes", failure.Message, StringComparison.Ordinal);
    }
}
