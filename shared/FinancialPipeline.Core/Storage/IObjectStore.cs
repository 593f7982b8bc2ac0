namespace FinancialPipeline.Core.Storage;

/// <summary>Metadata of a stored object, shaped like the GCS Object resource's essentials.</summary>
/// <param name="Generation">
/// The version of the object's content (GCS's <c>generation</c>): every upload gives the object a new, higher one. It
/// is what <see cref="UploadObjectOptions.IfGenerationMatch"/> compares against.
/// </param>
public sealed record StoredObject(string Bucket, string Name, long Size, DateTimeOffset Updated, string Uri, long Generation);

/// <summary>Per-upload settings, shaped like Google.Cloud.Storage.V1's <c>UploadObjectOptions</c>.</summary>
public sealed record UploadObjectOptions
{
    /// <summary>Create the object only if it does not exist yet (ifGenerationMatch=0).</summary>
    public static UploadObjectOptions CreateOnly { get; } = new() { IfGenerationMatch = 0 };

    /// <summary>
    /// Replace the object only if its live generation is this one, 0 meaning "only if there is no live object": a
    /// read-modify-write that loses a race throws <see cref="ObjectPreconditionFailedException"/> instead of
    /// overwriting what the other writer wrote.
    /// </summary>
    public long? IfGenerationMatch { get; init; }
}

/// <summary>
/// Object storage, shaped after Google.Cloud.Storage.V1's StorageClient (UploadObjectAsync / DownloadObjectAsync /
/// ListObjectsAsync / DeleteObjectAsync) so the official client can replace the REST adapter later.
/// Uploads are atomic: a reader sees the old object or the new one, never a partial one.
/// </summary>
public interface IObjectStore
{
    /// <summary>Stable URI of an object: gs://bucket/name or file:///root/bucket/name.</summary>
    string UriOf(string bucket, string objectName);

    /// <summary>Uploads <paramref name="source"/> from its current position to its end, atomically.</summary>
    /// <exception cref="ObjectPreconditionFailedException"><see cref="UploadObjectOptions.IfGenerationMatch"/> did not hold; the object is unchanged.</exception>
    Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default);

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

/// <summary>
/// A generation precondition of an upload did not hold (GCS answers 412 Precondition Failed): the object was created,
/// replaced or deleted by someone else since its generation was read. The object is left as that writer left it.
/// </summary>
public sealed class ObjectPreconditionFailedException : Exception
{
    public ObjectPreconditionFailedException(string uri, long? ifGenerationMatch, string? detail = null, Exception? innerException = null)
        : base(
            $"precondition failed for {uri}: "
            + (ifGenerationMatch == 0 ? "the object already exists" : $"its generation is no longer {ifGenerationMatch} (replaced or deleted by another writer)")
            + (detail is null ? string.Empty : $" ({detail})"),
            innerException)
    {
        Uri = uri;
        IfGenerationMatch = ifGenerationMatch;
    }

    public ObjectPreconditionFailedException()
    {
        Uri = string.Empty;
    }

    public ObjectPreconditionFailedException(string message)
        : base(message)
    {
        Uri = string.Empty;
    }

    public ObjectPreconditionFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Uri = string.Empty;
    }

    /// <summary>The object's URI (gs://bucket/name or file:///…).</summary>
    public string Uri { get; }

    /// <summary>The generation the upload required (0: that the object did not exist).</summary>
    public long? IfGenerationMatch { get; }
}
