using FinancialPipeline.Core.Storage;
using FinancialPipeline.Storage;

namespace FinancialPipeline.Core.Tests;

/// <summary>Cloud Storage's matchGlob rules, as objects.list applies them to whole object names.</summary>
public sealed class ObjectGlobTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fp-glob-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Theory]
    [InlineData("*.txt", "a.txt", true)]
    [InlineData("*.txt", "a/b.txt", false)] // * stays within one folder level
    [InlineData("**.txt", "a/b.txt", true)]
    [InlineData("a/**/b.txt", "a/b.txt", true)] // **/ is zero or more levels
    [InlineData("a/**/b.txt", "a/x/y/b.txt", true)]
    [InlineData("a/**/b.txt", "ab.txt", false)]
    [InlineData("a/**/b.txt", "a/x/cb.txt", false)]
    [InlineData("d=?", "d=1", true)]
    [InlineData("d=?", "d=/", false)]
    [InlineData("d=?", "d=12", false)]
    [InlineData("d=[0-9]", "d=7", true)]
    [InlineData("d=[0-9]", "d=x", false)]
    [InlineData("d=[!0-9]", "d=x", true)]
    [InlineData("d=[!0-9]", "d=7", false)]
    [InlineData("d=[!0-9]", "d=/", false)]
    [InlineData("{a,bc}.parquet", "bc.parquet", true)]
    [InlineData("{a,bc}.parquet", "b.parquet", false)]
    [InlineData("x.(1)+$", "x.(1)+$", true)] // regex metacharacters are literal
    [InlineData("x.(1)+$", "xx(1)+$", false)]
    public void Matches_AsCloudStorageDocumentsIt(string pattern, string name, bool expected)
    {
        Assert.Equal(expected, ObjectGlob.Parse(pattern).IsMatch(name));
    }

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("a[bc", "unclosed '['")]
    [InlineData("a{b,c", "unclosed '{'")]
    public void AMalformedPattern_IsRejected_SayingWhy(string pattern, string reason)
    {
        var error = Assert.Throws<ArgumentException>(() => ObjectGlob.Parse(pattern));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheFileSystemStore_ListsOnlyTheObjectsTheGlobMatches()
    {
        var store = new FileSystemObjectStore(_root);
        var exec = Guid.NewGuid();
        string[] names =
        [
            $"financial_quotes_rejected/date=2026-11-20/rejected-{exec:D}.parquet",
            $"financial_quotes_rejected/date=2026-11-20/rejected-{Guid.NewGuid():D}.parquet",
            $"financial_quotes_rejected/date=2026-11-23/rejected-{exec:D}.parquet",
            $"financial_quotes/date=2026-11-23/rejected-{exec:D}.parquet",
        ];
        foreach (var name in names)
        {
            await store.UploadObjectAsync("fp-silver", name, "application/octet-stream", new MemoryStream([1]));
        }

        var listed = await store.ListObjectsAsync(
            "fp-silver",
            "financial_quotes_rejected/",
            new ListObjectsOptions { MatchGlob = $"financial_quotes_rejected/**/rejected-{exec:D}.parquet" }).ToListAsync();

        Assert.Equal([names[0], names[2]], listed.Select(o => o.Name));
    }
}
