namespace FinancialPipeline.Core.Storage;

/// <summary>Metadata of a stored object, shaped like the GCS Object resource's essentials.</summary>
public sealed record StoredObject(string Bucket, string Name, long Size, DateTimeOffset Updated, string Uri);

/// <summary>
/// Object storage, shaped after Google.Cloud.Storage.V1's StorageClient (UploadObjectAsync / DownloadObjectAsync /
/// ListObjectsAsync / DeleteObjectAsync) so the official client can replace the REST adapter later.
/// Uploads are atomic: a reader sees the old object or the new one, never a partial one.
/// </summary>
public interface IObjectStore
{
    /// <summary>Stable URI of an object: gs://bucket/name or file:///root/bucket/name.</summary>
    string UriOf(string bucket, string objectName);

    Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, CancellationToken cancellationToken = default);

    /// <summary>Copies the object into <paramref name="destination"/>; throws <see cref="ObjectNotFoundException"/> when absent.</summary>
    Task DownloadObjectAsync(string bucket, string objectName, Stream destination, CancellationToken cancellationToken = default);

    /// <summary>Objects whose names start with <paramref name="prefix"/> (and match <see cref="ListObjectsOptions.MatchGlob"/>, when given), in name order.</summary>
    IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes the object; absent is not an error.</summary>
    Task DeleteObjectAsync(string bucket, string objectName, CancellationToken cancellationToken = default);
}

public sealed class ObjectNotFoundException : Exception
{
    public ObjectNotFoundException(string uri)
        : base($"object {uri} does not exist")
    {
        Uri = uri;
    }

    public ObjectNotFoundException()
    {
        Uri = string.Empty;
    }

    public ObjectNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
        Uri = string.Empty;
    }

    public string Uri { get; }
}
