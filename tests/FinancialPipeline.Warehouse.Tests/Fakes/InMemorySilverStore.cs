using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Warehouse.Tests.Fakes;

/// <summary>
/// Object names held in memory and listed as GCS lists them (prefix, <c>matchGlob</c>, name order), with every listing
/// recorded: the silver bucket BigQuery gold checks before its MERGE. Only listing is supported.
/// </summary>
internal sealed class InMemorySilverStore : IObjectStore
{
    private readonly ConcurrentDictionary<string, SortedSet<string>> _buckets = new(StringComparer.Ordinal);

    public ConcurrentQueue<(string Bucket, string Prefix, string? Glob)> Listings { get; } = new();

    /// <summary>Adds a silver part file of each date to <paramref name="bucket"/>.</summary>
    public InMemorySilverStore WithPartitions(string bucket, params IEnumerable<DateOnly> dates) =>
        With(bucket, dates.Select(d => ObjectLayout.SilverObject(d)));

    public InMemorySilverStore With(string bucket, params IEnumerable<string> names)
    {
        var set = _buckets.GetOrAdd(bucket, _ => new SortedSet<string>(StringComparer.Ordinal));
        lock (set)
        {
            set.UnionWith(names);
        }

        return this;
    }

    public string UriOf(string bucket, string objectName) => $"gs://{bucket}/{objectName}";

    public async IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Listings.Enqueue((bucket, prefix, options?.MatchGlob));
        var glob = options?.MatchGlob is { } pattern ? ObjectGlob.Parse(pattern) : null;
        List<string> names;
        var set = _buckets.GetValueOrDefault(bucket) ?? [];
        lock (set)
        {
            names = set.Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && (glob is null || glob.IsMatch(n))).ToList();
        }

        foreach (var name in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new StoredObject(bucket, name, 1, DateTimeOffset.UnixEpoch, UriOf(bucket, name), 1);
        }

        await Task.CompletedTask;
    }

    public Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("gold only lists silver");

    public Task DownloadObjectAsync(string bucket, string objectName, Stream destination, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("gold only lists silver");

    public Task DeleteObjectAsync(string bucket, string objectName, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("gold only lists silver");
}
