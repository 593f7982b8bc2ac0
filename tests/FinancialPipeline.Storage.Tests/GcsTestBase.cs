using FinancialPipeline.Storage.Gcs;

namespace FinancialPipeline.Storage.Tests;

/// <summary>A fresh fake GCS server per test, so injected faults and stored objects never leak between tests.</summary>
public abstract class GcsTestBase : IAsyncLifetime
{
    protected const string Bucket = "fp-test-bucket";
    protected const int Chunk = 512 * 1024;
    protected const int Threshold = 1024 * 1024;

    private readonly List<IDisposable> _disposables = [];

    protected FakeGcsServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await FakeGcsServer.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var disposable in _disposables)
        {
            disposable.Dispose();
        }

        await Server.DisposeAsync();
    }

    /// <summary>A store on the fake server: 1 MiB threshold, 512 KiB chunks, millisecond backoff so only Retry-After can make a retry slow.</summary>
    protected GcsObjectStore CreateStore(Action<GcsOptions>? configure = null)
    {
        var options = new GcsOptions
        {
            EmulatorHost = Server.BaseAddress.AbsoluteUri,
            ResumableThreshold = Threshold,
            ChunkSize = Chunk,
            MaxAttempts = 5,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            RetryMaxDelay = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        var http = Track(new HttpClient { Timeout = TimeSpan.FromSeconds(30) });
        return new GcsObjectStore(http, options);
    }

    protected T Track<T>(T disposable)
        where T : IDisposable
    {
        _disposables.Add(disposable);
        return disposable;
    }

    protected static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static async Task<byte[]> DownloadAsync(GcsObjectStore store, string name)
    {
        using var destination = new MemoryStream();
        await store.DownloadObjectAsync(Bucket, name, destination);
        return destination.ToArray();
    }

    protected static Stream Source(byte[] data, bool seekable) =>
        seekable ? new MemoryStream(data, writable: false) : new NonSeekableStream(data);

    /// <summary>A forward-only stream, like a network or pipe source: the store cannot learn its length in advance.</summary>
    private sealed class NonSeekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data, writable: false);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 70_000));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _inner.ReadAsync(buffer[..Math.Min(buffer.Length, 70_000)], cancellationToken);

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
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
