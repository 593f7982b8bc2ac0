using System.Collections.Concurrent;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Storage;
using FinancialPipeline.Tests.Shared;

namespace FinancialPipeline.Warehouse.Tests.Fakes;

/// <summary>
/// The silver bucket BigQuery gold checks before its MERGE: the product's filesystem store in a temporary directory
/// (listing with prefix and <c>matchGlob</c> as GCS does), with every listing recorded.
/// </summary>
internal sealed class RecordingSilverStore() : DelegatingObjectStore(new FileSystemObjectStore(NewRoot())), IDisposable
{
    private FileSystemObjectStore Files => (FileSystemObjectStore)Inner;

    public ConcurrentQueue<(string Bucket, string Prefix, string? Glob)> Listings { get; } = new();

    /// <summary>Writes a silver part file of each date to <paramref name="bucket"/>.</summary>
    public RecordingSilverStore WithPartitions(string bucket, params IEnumerable<DateOnly> dates) =>
        With(bucket, dates.Select(d => ObjectLayout.SilverObject(d)));

    /// <summary>Writes an (empty) object of each name to <paramref name="bucket"/>: only names matter to a listing.</summary>
    public RecordingSilverStore With(string bucket, params IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            var path = Files.PathOf(bucket, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, []);
        }

        return this;
    }

    public override IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, CancellationToken cancellationToken = default)
    {
        Listings.Enqueue((bucket, prefix, options?.MatchGlob));
        return base.ListObjectsAsync(bucket, prefix, options, cancellationToken);
    }

    public void Dispose()
    {
        if (Directory.Exists(Files.Root))
        {
            Directory.Delete(Files.Root, recursive: true);
        }
    }

    private static string NewRoot() => Path.Combine(Path.GetTempPath(), $"fp-gold-silver-{Guid.NewGuid():N}");
}
