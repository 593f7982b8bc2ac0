using System.Globalization;

namespace FinancialPipeline.Storage.Tests;

public sealed class ResumableUploadTests : GcsTestBase
{
    [Theory]
    [InlineData(Threshold + 1, true)]
    [InlineData(Threshold + 1, false)]
    [InlineData(4 * Chunk, true)]
    [InlineData(4 * Chunk, false)]
    [InlineData((3 * 1024 * 1024) + 12345, true)]
    [InlineData((3 * 1024 * 1024) + 12345, false)]
    public async Task LargeObject_RoundTripsByteExact_ThroughAlignedChunks(int size, bool seekable)
    {
        var store = CreateStore();
        var data = RandomBytes(size, seed: size);

        var stored = await store.UploadObjectAsync(Bucket, "bronze/large.parquet", "application/octet-stream", Source(data, seekable));

        Assert.Equal(size, stored.Size);
        Assert.Equal("gs://fp-test-bucket/bronze/large.parquet", stored.Uri);
        Assert.Single(Server.Requests, r => r.IsResumableStart);
        Assert.DoesNotContain(Server.Requests, r => r.IsSimpleUpload || r.IsStatusQuery);
        var chunks = Server.Requests.Where(r => r.IsChunk).ToList();
        Assert.Equal((size + Chunk - 1) / Chunk, chunks.Count);
        Assert.All(chunks[..^1], c => Assert.Equal(Chunk, c.BodyLength));
        Assert.All(chunks[..^1], c => Assert.EndsWith("/*", c.ContentRange, StringComparison.Ordinal));
        Assert.EndsWith("/" + size.ToString(CultureInfo.InvariantCulture), chunks[^1].ContentRange, StringComparison.Ordinal);
        Assert.Equal(data, Server.Find(Bucket, "bronze/large.parquet")!.Data);
        Assert.Equal(data, await DownloadAsync(store, "bronze/large.parquet"));
    }

    [Theory]
    [InlineData(0, ChunkFailure.ServiceUnavailable)]
    [InlineData(256 * 1024, ChunkFailure.ServiceUnavailable)]
    [InlineData(100_000, ChunkFailure.ServiceUnavailable)]
    [InlineData(256 * 1024, ChunkFailure.ConnectionReset)]
    [InlineData(100_000, ChunkFailure.ConnectionReset)]
    public async Task ChunkFailingMidway_ResumesFromTheAcknowledgedOffset_SendingOnlyMissingBytes(int keptBytes, ChunkFailure failure)
    {
        var store = CreateStore();
        var size = (4 * Chunk) + 1000;
        var data = RandomBytes(size, seed: keptBytes);
        Server.FailChunk(chunkNumber: 2, keptBytes, failure);

        await store.UploadObjectAsync(Bucket, "bronze/resumed.parquet", "application/octet-stream", Source(data, seekable: false));

        Assert.Equal(data, Server.Find(Bucket, "bronze/resumed.parquet")!.Data);
        Assert.Single(Server.Requests, r => r.IsResumableStart);
        var puts = Server.Requests.Where(r => r.IsChunk).ToList();

        // The failed chunk's bytes beyond what the server kept are the only bytes sent twice.
        Assert.Equal(size + (Chunk - keptBytes), puts.Sum(r => r.BodyLength));
        var query = Assert.Single(puts, r => r.IsStatusQuery);
        Assert.Equal("bytes */*", query.ContentRange);
        var resumed = puts[puts.IndexOf(query) + 1];
        Assert.StartsWith($"bytes {Chunk + keptBytes}-", resumed.ContentRange, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedStatusQuery_IsRetried_AndTheUploadStillResumes()
    {
        var store = CreateStore();
        var data = RandomBytes((2 * Chunk) + 10, seed: 7);
        Server.FailChunk(chunkNumber: 1, keepBytes: 256 * 1024, ChunkFailure.ServiceUnavailable);
        Server.FailNext(1, System.Net.HttpStatusCode.ServiceUnavailable, match: r => r.IsStatusQuery);

        await store.UploadObjectAsync(Bucket, "q.bin", "application/octet-stream", Source(data, seekable: true));

        Assert.Equal(data, Server.Find(Bucket, "q.bin")!.Data);
        Assert.Equal(2, Server.Requests.Count(r => r.IsStatusQuery));
        Assert.Equal(data.Length + (256 * 1024), Server.Requests.Where(r => r.IsChunk).Sum(r => r.BodyLength));
    }

    [Fact]
    public async Task ThresholdZero_SendsEvenASmallObjectResumably()
    {
        var store = CreateStore(o => o.ResumableThreshold = 0);
        var data = RandomBytes(10, seed: 8);

        await store.UploadObjectAsync(Bucket, "tiny", "text/plain", new MemoryStream(data));

        Assert.Single(Server.Requests, r => r.IsResumableStart);
        Assert.Equal("bytes 0-9/10", Assert.Single(Server.Requests, r => r.IsChunk).ContentRange);
        Assert.Equal("text/plain", Server.Find(Bucket, "tiny")!.ContentType);
    }
}
