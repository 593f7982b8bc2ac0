using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Storage;
using FinancialPipeline.Storage.Gcs;

namespace FinancialPipeline.Core.Tests;

/// <summary>One bucket-name rule: the job config, the filesystem store and the GCS adapter accept and refuse the same names.</summary>
public sealed class BucketNameTests
{
    [Theory]
    [InlineData("abc")]
    [InlineData("fp-bronze")]
    [InlineData("fp_silver.prod-2026")]
    [InlineData("192.168.5")]
    [InlineData("1.2.3.4.5")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")]
    public void Valid_names_pass_everywhere(string bucket)
    {
        Assert.Null(BucketNames.Problem(bucket));
        GcsNames.ValidateBucket(bucket);
        Assert.Equal(bucket, Job(bucket).BucketName);
    }

    [Theory]
    [InlineData("ab", "3-63 characters")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234", "3-63 characters")]
    [InlineData("Fp-Bronze", "a-z, 0-9")]
    [InlineData("fp/bronze", "a-z, 0-9")]
    [InlineData("-fp-bronze", "start and end")]
    [InlineData("fp-bronze.", "start and end")]
    [InlineData("fp..bronze", "'..'")]
    [InlineData("google-data", "'goog'")]
    [InlineData("my-google-bucket", "'google'")]
    [InlineData("my-g00gle-bucket", "'google'")]
    [InlineData("192.168.5.4", "IP address")]
    public async Task Invalid_names_are_refused_everywhere_with_the_same_reason(string bucket, string reason)
    {
        Assert.Contains(reason, BucketNames.Problem(bucket), StringComparison.Ordinal);
        Assert.Contains(reason, Assert.Throws<ArgumentException>(() => GcsNames.ValidateBucket(bucket)).Message, StringComparison.Ordinal);
        var config = Assert.Throws<JobConfigException>(() => Job(bucket));
        Assert.Equal("bucket_name", config.Column);
        Assert.Contains(reason, config.Message, StringComparison.Ordinal);

        var root = Directory.CreateTempSubdirectory("fp-bucket-names-");
        try
        {
            var store = new FileSystemObjectStore(root.FullName);
            var error = await Assert.ThrowsAsync<ArgumentException>(() => store.UploadObjectAsync(bucket, "x.parquet", "application/octet-stream", new MemoryStream([1])));
            Assert.Contains(reason, error.Message, StringComparison.Ordinal);
            Assert.Empty(root.EnumerateFileSystemInfos());
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    private static JobConfig Job(string bucket) => JobConfig.Create("job_names", "AAPL", 3600, 10800, bucket, null, "synthetic", "1h", 86400, true);
}
