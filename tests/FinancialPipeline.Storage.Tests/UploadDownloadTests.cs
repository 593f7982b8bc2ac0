using System.Globalization;
using System.Net;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Storage.Gcs;

namespace FinancialPipeline.Storage.Tests;

public sealed class UploadDownloadTests : GcsTestBase
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SmallObject_RoundTrips_ThroughOneSimpleUpload(bool seekable)
    {
        var store = CreateStore();
        var data = RandomBytes(10_000, seed: 1);

        var stored = await store.UploadObjectAsync(Bucket, "bronze/small.bin", "application/octet-stream", Source(data, seekable));

        var request = Assert.Single(Server.Requests);
        Assert.True(request.IsSimpleUpload);
        var onServer = Server.Find(Bucket, "bronze/small.bin")!;
        Assert.Equal(data, onServer.Data);
        Assert.Equal(Bucket, stored.Bucket);
        Assert.Equal("bronze/small.bin", stored.Name);
        Assert.Equal(data.Length, stored.Size);
        Assert.Equal("gs://fp-test-bucket/bronze/small.bin", stored.Uri);
        Assert.Equal(onServer.Updated.ToUnixTimeMilliseconds(), stored.Updated.ToUnixTimeMilliseconds());
        Assert.Equal(data, await DownloadAsync(store, "bronze/small.bin"));
    }

    [Fact]
    public async Task Upload_SendsContentType_AndStartsAtTheStreamPosition()
    {
        var store = CreateStore();
        var data = RandomBytes(1000, seed: 2);
        using var source = new MemoryStream(data);
        source.Position = 100;

        var stored = await store.UploadObjectAsync(Bucket, "a.json", "application/json", source);

        Assert.Equal(900, stored.Size);
        Assert.Equal("application/json", Server.Find(Bucket, "a.json")!.ContentType);
        Assert.Equal(data[100..], Server.Find(Bucket, "a.json")!.Data);
    }

    [Fact]
    public async Task EmptyObject_RoundTrips()
    {
        var store = CreateStore();

        var stored = await store.UploadObjectAsync(Bucket, "_SUCCESS", "text/plain", new MemoryStream());

        Assert.Equal(0, stored.Size);
        Assert.Empty(await DownloadAsync(store, "_SUCCESS"));
    }

    [Fact]
    public async Task Upload_Overwrites_WithoutPrecondition()
    {
        var store = CreateStore();
        await store.UploadObjectAsync(Bucket, "x", "text/plain", new MemoryStream([1, 2, 3]));

        await store.UploadObjectAsync(Bucket, "x", "text/plain", new MemoryStream([4, 5]));

        Assert.Equal(new byte[] { 4, 5 }, await DownloadAsync(store, "x"));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(Threshold + 1)]
    public async Task CreateOnly_WhenObjectExists_ThrowsPreconditionFailed_AndKeepsTheOriginal(int size)
    {
        var store = CreateStore();
        Server.Put(Bucket, "silver/part-00000.parquet", [9, 9, 9]);

        var e = await Assert.ThrowsAsync<ObjectPreconditionFailedException>(() => store.UploadObjectAsync(
            Bucket, "silver/part-00000.parquet", "application/octet-stream", new MemoryStream(RandomBytes(size, seed: 3)), UploadObjectOptions.CreateOnly));

        Assert.Equal("gs://fp-test-bucket/silver/part-00000.parquet", e.Uri);
        Assert.Equal(HttpStatusCode.PreconditionFailed, Assert.IsType<GcsRequestException>(e.InnerException).StatusCode);
        Assert.Contains("gs://fp-test-bucket/silver/part-00000.parquet", e.Message, StringComparison.Ordinal);
        Assert.All(Server.Requests.Where(r => r.Method == "POST"), r => Assert.Equal("0", r.Query.GetValueOrDefault("ifGenerationMatch")));
        Assert.Equal(new byte[] { 9, 9, 9 }, Server.Find(Bucket, "silver/part-00000.parquet")!.Data);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(Threshold + 1)]
    public async Task IfGenerationMatch_ReplacesTheListedGeneration_AndRefusesAStaleOne(int size)
    {
        var store = CreateStore();
        Server.Put(Bucket, "silver/date=2026-11-23/part-00000.parquet", [1]);
        var listed = Assert.Single(await store.ListObjectsAsync(Bucket, "silver/").ToListAsync());
        Assert.Equal(Server.Find(Bucket, listed.Name)!.Generation, listed.Generation);

        var replaced = await store.UploadObjectAsync(Bucket, listed.Name, "application/octet-stream", new MemoryStream(RandomBytes(size, seed: 5)), new UploadObjectOptions { IfGenerationMatch = listed.Generation });
        var stale = await Assert.ThrowsAsync<ObjectPreconditionFailedException>(() => store.UploadObjectAsync(
            Bucket, listed.Name, "application/octet-stream", new MemoryStream([7]), new UploadObjectOptions { IfGenerationMatch = listed.Generation }));

        Assert.Equal(Server.Find(Bucket, listed.Name)!.Generation, replaced.Generation);
        Assert.True(replaced.Generation > listed.Generation);
        Assert.Equal(listed.Generation, stale.IfGenerationMatch);
        Assert.Equal(RandomBytes(size, seed: 5), Server.Find(Bucket, listed.Name)!.Data);
        Assert.All(Server.Requests.Where(r => r.Method == "POST"), r => Assert.Equal(listed.Generation.ToString(CultureInfo.InvariantCulture), r.Query.GetValueOrDefault("ifGenerationMatch")));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(Threshold + 1)]
    public async Task CreateOnly_WhenObjectIsAbsent_Creates(int size)
    {
        var store = CreateStore();
        var data = RandomBytes(size, seed: 4);

        var stored = await store.UploadObjectAsync(Bucket, "new.bin", "application/octet-stream", new MemoryStream(data), UploadObjectOptions.CreateOnly);

        Assert.Equal(size, stored.Size);
        Assert.Equal(data, Server.Find(Bucket, "new.bin")!.Data);
    }

    [Fact]
    public async Task Download_OfMissingObject_ThrowsObjectNotFound()
    {
        var store = CreateStore();

        var e = await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.DownloadObjectAsync(Bucket, "no/such object", new MemoryStream()));

        Assert.Equal("gs://fp-test-bucket/no/such object", e.Uri);
        Assert.Single(Server.Requests);
    }

    [Fact]
    public async Task Delete_RemovesTheObject_AndAMissingObjectIsFine()
    {
        var store = CreateStore();
        Server.Put(Bucket, "to/delete", [1]);

        await store.DeleteObjectAsync(Bucket, "to/delete");
        await store.DeleteObjectAsync(Bucket, "to/delete");

        Assert.Null(Server.Find(Bucket, "to/delete"));
        Assert.Equal(2, Server.Requests.Count(r => r.Method == "DELETE"));
    }

    [Fact]
    public void UriOf_IsGsBucketAndRawName()
    {
        var store = CreateStore();

        Assert.Equal("gs://fp-test-bucket/financial_quotes/date=2024-01-02/part 1.parquet", store.UriOf(Bucket, "financial_quotes/date=2024-01-02/part 1.parquet"));
    }
}
