using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Tests.Shared;

/// <summary>
/// A store that passes every call to <see cref="Inner"/>; a test overrides the call it wants to slow down or break
/// (as <c>DelegatingHandler</c> does for HttpClient), to inject storage faults.
/// </summary>
public abstract class DelegatingObjectStore(IObjectStore inner) : IObjectStore
{
    public IObjectStore Inner => inner;

    public virtual string UriOf(string bucket, string objectName) => inner.UriOf(bucket, objectName);

    public virtual Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default) =>
        inner.UploadObjectAsync(bucket, objectName, contentType, source, options, cancellationToken);

    public virtual Task DownloadObjectAsync(string bucket, string objectName, Stream destination, CancellationToken cancellationToken = default) =>
        inner.DownloadObjectAsync(bucket, objectName, destination, cancellationToken);

    public virtual IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, CancellationToken cancellationToken = default) =>
        inner.ListObjectsAsync(bucket, prefix, options, cancellationToken);

    public virtual Task DeleteObjectAsync(string bucket, string objectName, CancellationToken cancellationToken = default) =>
        inner.DeleteObjectAsync(bucket, objectName, cancellationToken);
}
