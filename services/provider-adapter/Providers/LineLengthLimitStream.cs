namespace AiMesh.ProviderAdapter.Providers;

/// <summary>
/// A provider's stream, read through: fails with an <see cref="IOException"/> once more than
/// <c>maxLineBytes</c> arrive without a line feed. The SSE and NDJSON readers buffer a line until it
/// ends, so a stream that never ends its line would otherwise grow their buffer without bound.
/// </summary>
public sealed class LineLengthLimitStream(Stream inner, int maxLineBytes) : Stream
{
    private long _sinceLineFeed;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        return Count(buffer[..read].Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => Count(buffer[..inner.Read(buffer)]);

    private int Count(ReadOnlySpan<byte> read)
    {
        var rest = read;
        var lineFeed = rest.IndexOf((byte)'\n');
        while (lineFeed >= 0)
        {
            Check(_sinceLineFeed + lineFeed);
            _sinceLineFeed = 0;
            rest = rest[(lineFeed + 1)..];
            lineFeed = rest.IndexOf((byte)'\n');
        }

        _sinceLineFeed += rest.Length;
        Check(_sinceLineFeed);
        return read.Length;
    }

    private void Check(long lineBytes)
    {
        if (lineBytes > maxLineBytes)
        {
            throw new IOException($"The provider sent a stream line longer than {maxLineBytes} bytes ({ResponseLimits.Section}:MaxStreamLineBytes).");
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
