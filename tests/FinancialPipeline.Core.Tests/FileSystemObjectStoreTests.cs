using System.Text;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Storage;

namespace FinancialPipeline.Core.Tests;

/// <summary>The local bucket store's generations and upload preconditions, on a real directory tree.</summary>
public sealed class FileSystemObjectStoreTests : IDisposable
{
    private const string Bucket = "fp-test";

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fp-store-tests-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task EveryUpload_GivesTheObjectAHigherGeneration_EvenWithinOneClockTick_AndListingReportsIt()
    {
        var store = new FileSystemObjectStore(_root);
        var generations = new List<long>();
        for (var i = 0; i < 50; i++)
        {
            generations.Add((await UploadAsync(store, "a/b.txt", $"v{i}")).Generation);
        }

        Assert.Equal(generations.Order(), generations);
        Assert.Equal(generations.Count, generations.Distinct().Count());
        var listed = Assert.Single(await ListAsync(store));
        Assert.Equal(generations[^1], listed.Generation);
    }

    [Fact]
    public async Task ABucketThatIsAFile_IsNamedAsSuch_NotAsAMissingPath()
    {
        // An operator's mistake seen in a drill: the error said "Could not find a part of the path" of a path that exists.
        var store = new FileSystemObjectStore(_root);
        Directory.CreateDirectory(_root);
        var bucket = Path.Combine(_root, Bucket);
        await File.WriteAllTextAsync(bucket, "not a bucket");

        const string name = "financial_quotes/ingest_date=2026-11-25/part-00000.parquet";

        var error = await Assert.ThrowsAsync<IOException>(() => UploadAsync(store, name, "x"));

        Assert.Equal($"cannot write {store.UriOf(Bucket, name)}: {bucket} is a file, not a directory", error.Message);
    }

    [Fact]
    public async Task ADeletedAndRecreatedObject_GetsAGenerationAboveTheOldOne()
    {
        var store = new FileSystemObjectStore(_root);
        var old = await UploadAsync(store, "x", "1");
        await store.DeleteObjectAsync(Bucket, "x");

        var recreated = await UploadAsync(store, "x", "2", UploadObjectOptions.CreateOnly);

        Assert.True(recreated.Generation > old.Generation);
        var stale = await Assert.ThrowsAsync<ObjectPreconditionFailedException>(() => UploadAsync(store, "x", "3", new UploadObjectOptions { IfGenerationMatch = old.Generation }));
        Assert.Equal(old.Generation, stale.IfGenerationMatch);
        Assert.Equal("2", await ReadAsync(store, "x"));
    }

    [Fact]
    public async Task CreateOnly_FailsWhenTheObjectExists_AndKeepsIt_AndLeavesNoTemporaryFile()
    {
        var store = new FileSystemObjectStore(_root);
        await UploadAsync(store, "d/x", "original");

        var error = await Assert.ThrowsAsync<ObjectPreconditionFailedException>(() => UploadAsync(store, "d/x", "second", UploadObjectOptions.CreateOnly));

        Assert.Equal(store.UriOf(Bucket, "d/x"), error.Uri);
        Assert.Contains("the object already exists", error.Message, StringComparison.Ordinal);
        Assert.Equal("original", await ReadAsync(store, "d/x"));
        Assert.Equal(["x"], Directory.GetFiles(Path.Combine(_root, Bucket, "d")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task IfGenerationMatch_ReplacesOnlyTheGenerationThatWasRead()
    {
        var store = new FileSystemObjectStore(_root);
        var read = await UploadAsync(store, "p", "v1");
        var replaced = await UploadAsync(store, "p", "v2", new UploadObjectOptions { IfGenerationMatch = read.Generation });

        var error = await Assert.ThrowsAsync<ObjectPreconditionFailedException>(() => UploadAsync(store, "p", "v3", new UploadObjectOptions { IfGenerationMatch = read.Generation }));

        Assert.Contains($"its generation is no longer {read.Generation}", error.Message, StringComparison.Ordinal);
        Assert.Equal("v2", await ReadAsync(store, "p"));
        Assert.Equal(replaced.Generation, Assert.Single(await ListAsync(store)).Generation);
        await Assert.ThrowsAsync<ObjectPreconditionFailedException>(() => UploadAsync(store, "absent", "v", new UploadObjectOptions { IfGenerationMatch = read.Generation }));
    }

    [Fact]
    public async Task ConcurrentWritersOfTheSameGeneration_ThroughSeparateStores_ExactlyOneWins()
    {
        // Separate store instances stand for separate function hosts: they share only the directory and its lock file.
        var seed = await UploadAsync(new FileSystemObjectStore(_root), "hot", "seed");
        for (var round = 0; round < 5; round++)
        {
            var current = round == 0 ? seed.Generation : Assert.Single(await ListAsync(new FileSystemObjectStore(_root))).Generation;
            using var go = new ManualResetEventSlim();
            var writers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
            {
                var store = new FileSystemObjectStore(_root);
                go.Wait();
                try
                {
                    await UploadAsync(store, "hot", $"round {round} writer {i}", new UploadObjectOptions { IfGenerationMatch = current });
                    return i;
                }
                catch (ObjectPreconditionFailedException)
                {
                    return -1;
                }
            })).ToList();
            go.Set();
            var winners = (await Task.WhenAll(writers)).Where(i => i >= 0).ToList();

            var winner = Assert.Single(winners);
            Assert.Equal($"round {round} writer {winner}", await ReadAsync(new FileSystemObjectStore(_root), "hot"));
        }
    }

    private static Task<StoredObject> UploadAsync(FileSystemObjectStore store, string name, string text, UploadObjectOptions? options = null) =>
        store.UploadObjectAsync(Bucket, name, "text/plain", new MemoryStream(Encoding.UTF8.GetBytes(text)), options);

    private static async Task<string> ReadAsync(FileSystemObjectStore store, string name)
    {
        using var buffer = new MemoryStream();
        await store.DownloadObjectAsync(Bucket, name, buffer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static async Task<List<StoredObject>> ListAsync(FileSystemObjectStore store)
    {
        var objects = new List<StoredObject>();
        await foreach (var o in store.ListObjectsAsync(Bucket, string.Empty))
        {
            objects.Add(o);
        }

        return objects;
    }
}
