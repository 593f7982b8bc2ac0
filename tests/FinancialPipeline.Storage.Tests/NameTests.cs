using FinancialPipeline.Storage.Gcs;

namespace FinancialPipeline.Storage.Tests;

public sealed class NameTests : GcsTestBase
{
    public static TheoryData<string> AwkwardNames =>
    [
        "dir/sub dir/file name.parquet",
        "financial_quotes/date=2024-01-02/execution_id=5b7c/part-00000.parquet",
        "ünïcødé/€uro/日本語.txt",
        "plus+and&amp?query#frag%25percent.txt",
        "emoji 🚀/~tilde;semi,comma:colon@at!bang'(paren)*.bin",
        "a/../b/./c",
        "...",
        "trailing/",
    ];

    [Theory]
    [MemberData(nameof(AwkwardNames))]
    public async Task AwkwardName_IsStoredListedDownloadedAndDeleted_UnderExactlyThatName(string name)
    {
        var store = CreateStore();
        var data = RandomBytes(100, seed: name.Length);

        var stored = await store.UploadObjectAsync(Bucket, name, "application/octet-stream", new MemoryStream(data));

        Assert.Equal(name, stored.Name);
        Assert.Equal(data, Server.Find(Bucket, name)?.Data);
        Assert.Equal(name, Assert.Single(await store.ListObjectsAsync(Bucket, name).ToListAsync()).Name);
        Assert.Equal(data, await DownloadAsync(store, name));
        await store.DeleteObjectAsync(Bucket, name);
        Assert.Null(Server.Find(Bucket, name));

        // In a path the name is one segment: its slashes travel as %2F.
        var download = Assert.Single(Server.Requests, r => r.Query.GetValueOrDefault("alt") == "media");
        Assert.Equal(["storage", "v1", "b", Bucket, "o", name], download.PathSegments);
    }

    [Fact]
    public async Task AwkwardName_SurvivesTheResumablePath()
    {
        var store = CreateStore();
        const string name = "bronze/ingest_date=2024-01-02/a b+c/ß.parquet";
        var data = RandomBytes(Threshold + 5, seed: 9);

        await store.UploadObjectAsync(Bucket, name, "application/octet-stream", new MemoryStream(data));

        Assert.Equal(data, Server.Find(Bucket, name)?.Data);
    }

    [Fact]
    public void Encode_PercentEncodesEverythingButUnreservedCharacters()
    {
        Assert.Equal("a%2Fb%20c%3Dd%2Be%E2%82%AC~-._", GcsNames.Encode("a/b c=d+e€~-._"));
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("Upper-case")]
    [InlineData("-leading-dash")]
    [InlineData("trailing-dot.")]
    [InlineData("has space")]
    [InlineData("has/slash")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234")]
    public async Task InvalidBucket_IsRejectedBeforeAnyRequest_NamingTheValue(string bucket)
    {
        var store = CreateStore();

        var upload = await Assert.ThrowsAsync<ArgumentException>(() => store.UploadObjectAsync(bucket, "o", "text/plain", new MemoryStream()));
        Assert.Throws<ArgumentException>(() => store.ListObjectsAsync(bucket, string.Empty));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DownloadObjectAsync(bucket, "o", new MemoryStream()));

        Assert.Contains($"'{bucket}'", upload.Message, StringComparison.Ordinal);
        Assert.Empty(Server.Requests);
    }

    [Theory]
    [InlineData("")]
    [InlineData("line\nfeed")]
    [InlineData("carriage\rreturn")]
    [InlineData(".")]
    [InlineData("..")]
    public async Task InvalidObjectName_IsRejectedBeforeAnyRequest(string name)
    {
        var store = CreateStore();

        await Assert.ThrowsAsync<ArgumentException>(() => store.UploadObjectAsync(Bucket, name, "text/plain", new MemoryStream()));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeleteObjectAsync(Bucket, name));

        Assert.Empty(Server.Requests);
    }

    [Fact]
    public void ObjectName_WithAnUnpairedSurrogate_IsRejected()
    {
        // Built at run time: an attribute argument would store the lone surrogate as U+FFFD.
        var name = "unpaired" + (char)0xD800;

        var e = Assert.Throws<ArgumentException>(() => GcsNames.ValidateObjectName(name));

        Assert.Contains("not valid Unicode", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ObjectName_IsLimitedTo1024BytesOfUtf8_NotCharacters()
    {
        GcsNames.ValidateObjectName(new string('é', 512));

        var e = Assert.Throws<ArgumentException>(() => GcsNames.ValidateObjectName(new string('é', 513)));

        Assert.Contains("1026 bytes", e.Message, StringComparison.Ordinal);
        Assert.Equal("objectName", e.ParamName);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("my_bucket.example-1")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")]
    public void ValidBucket_IsAccepted(string bucket) => GcsNames.ValidateBucket(bucket);
}
