using System.Net;
using FinancialPipeline.Storage.Gcs;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Storage.Tests;

public sealed class RetryTests : GcsTestBase
{
    [Fact]
    public async Task TooManyRequests_IsRetried_AfterTheRetryAfterDelay()
    {
        var store = CreateStore();
        Server.FailNext(1, HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromSeconds(1));

        await store.UploadObjectAsync(Bucket, "r.bin", "application/octet-stream", new MemoryStream([1, 2, 3]));

        var requests = Server.Requests;
        Assert.Equal(2, requests.Count);
        // Backoff alone would wait about a millisecond; only Retry-After explains a second between the attempts.
        var gap = TimeProvider.System.GetElapsedTime(requests[0].Timestamp, requests[1].Timestamp);
        Assert.True(gap >= TimeSpan.FromMilliseconds(950), $"second attempt came {gap.TotalMilliseconds} ms after the 429");
        Assert.Equal(new byte[] { 1, 2, 3 }, Server.Find(Bucket, "r.bin")!.Data);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.RequestTimeout)]
    public async Task TransientErrors_AreRetried_UntilTheDownloadSucceeds(HttpStatusCode status)
    {
        var store = CreateStore();
        Server.Put(Bucket, "d.bin", [7, 8]);
        Server.FailNext(3, status);

        Assert.Equal(new byte[] { 7, 8 }, await DownloadAsync(store, "d.bin"));
        Assert.Equal(4, Server.Requests.Count);
    }

    [Fact]
    public async Task ADownloadBrokenOffMidBody_IsRetriedFromItsStart_AndTheDestinationHoldsTheObjectOnce()
    {
        var store = CreateStore();
        var data = RandomBytes(1_000_000, seed: 7);
        Server.Put(Bucket, "bronze/part-00000.parquet", data);
        Server.BreakDownloads(2, keepBytes: 300_000);
        using var destination = new MemoryStream();
        destination.Write([1, 2, 3]); // what the caller had before: kept, and the object appended once after it

        await store.DownloadObjectAsync(Bucket, "bronze/part-00000.parquet", destination);

        Assert.Equal(3, Server.Requests.Count);
        Assert.Equal([1, 2, 3, .. data], destination.ToArray());
    }

    [Fact]
    public async Task ADownloadBrokenOffOnEveryAttempt_FailsAsAGcsError_NamingTheObject()
    {
        var store = CreateStore(o => o.MaxAttempts = 3);
        Server.Put(Bucket, "b.bin", RandomBytes(1_000_000, seed: 8));
        Server.BreakDownloads(100, keepBytes: 300_000);
        using var destination = new MemoryStream();

        var e = await Assert.ThrowsAsync<GcsRequestException>(() => store.DownloadObjectAsync(Bucket, "b.bin", destination));

        Assert.Contains($"download gs://{Bucket}/b.bin failed after 3 attempts", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, Server.Requests.Count);
        Assert.Equal(0, destination.Length); // no partial object left for a caller that catches and goes on
    }

    [Fact]
    public async Task ADestinationThatCannotBeWritten_FailsAtOnce_WithoutDownloadingAgain()
    {
        var store = CreateStore();
        Server.Put(Bucket, "d.bin", RandomBytes(300_000, seed: 9));
        using var full = new FullDiskStream();

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => store.DownloadObjectAsync(Bucket, "d.bin", full));

        Assert.Contains($"writing the download of gs://{Bucket}/d.bin to its destination failed: No space left on device", e.Message, StringComparison.Ordinal);
        Assert.Single(Server.Requests); // a full disk is not the network's fault: downloading again cannot help
    }

    /// <summary>A destination whose writes fail as a full disk's do.</summary>
    private sealed class FullDiskStream : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            throw new IOException("No space left on device");
    }

    [Fact]
    public async Task ListAndDelete_AreRetriedToo()
    {
        var store = CreateStore();
        Server.Put(Bucket, "a", [1]);
        Server.FailNext(1, HttpStatusCode.BadGateway, match: r => r.Method == "GET");
        Server.FailNext(1, HttpStatusCode.ServiceUnavailable, match: r => r.Method == "DELETE");

        var listed = await store.ListObjectsAsync(Bucket, string.Empty).ToListAsync();
        await store.DeleteObjectAsync(Bucket, "a");

        Assert.Equal("a", Assert.Single(listed).Name);
        Assert.Null(Server.Find(Bucket, "a"));
        Assert.Equal(4, Server.Requests.Count);
    }

    [Fact]
    public async Task PersistentFailure_StopsAfterMaxAttempts_WithStatusAndGoogleMessage()
    {
        var store = CreateStore(o => o.MaxAttempts = 3);
        Server.FailNext(100, HttpStatusCode.ServiceUnavailable, message: "backend is having a bad day");

        var e = await Assert.ThrowsAsync<GcsRequestException>(() => store.UploadObjectAsync(Bucket, "p", "text/plain", new MemoryStream([1])));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, e.StatusCode);
        Assert.Equal("backend is having a bad day", e.GoogleMessage);
        Assert.Contains("backend is having a bad day", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, Server.Requests.Count);
    }

    [Fact]
    public async Task NonRetryableError_FailsAtOnce_WithStatusAndGoogleMessage()
    {
        var store = CreateStore();
        const string denied = "svc@p.iam.gserviceaccount.com does not have storage.objects.create access";
        Server.FailNext(1, HttpStatusCode.Forbidden, message: denied);

        var e = await Assert.ThrowsAsync<GcsRequestException>(() => store.UploadObjectAsync(Bucket, "f", "text/plain", new MemoryStream([1])));

        Assert.Equal(HttpStatusCode.Forbidden, e.StatusCode);
        Assert.Equal(denied, e.GoogleMessage);
        Assert.Single(Server.Requests);
    }

    [Fact]
    public void RetryAfter_AsAnHttpDate_IsMeasuredFromTheInjectedClock_AndCapped()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero));
        using var inTwelveSeconds = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        inTwelveSeconds.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(clock.GetUtcNow().AddSeconds(12));
        using var inAnHour = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        inAnHour.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromHours(1));
        using var none = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);

        Assert.Equal(TimeSpan.FromSeconds(12), GcsRetry.RetryAfter(inTwelveSeconds, clock, TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.FromSeconds(30), GcsRetry.RetryAfter(inAnHour, clock, TimeSpan.FromSeconds(30)));
        Assert.Null(GcsRetry.RetryAfter(none, clock, TimeSpan.FromSeconds(30)));
    }
}
