using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.GoogleApis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace FinancialPipeline.Storage.Gcs;

/// <summary>
/// <see cref="IObjectStore"/> over the Cloud Storage JSON API. Objects up to
/// <see cref="GcsOptions.ResumableThreshold"/> go in one simple upload, larger ones through a resumable session
/// that, after a failed chunk, asks the server how much it kept and goes on from there.
/// </summary>
public sealed partial class GcsObjectStore : IObjectStore
{
    /// <summary>Name of the HttpClient that <see cref="GcsServiceCollectionExtensions.AddGcsObjectStore"/> registers.</summary>
    public const string HttpClientName = "FinancialPipeline.Storage.Gcs";

    private const HttpStatusCode ResumeIncomplete = (HttpStatusCode)308;
    private const string ListFields = "items(bucket,name,size,generation,updated,timeCreated),nextPageToken";

    private readonly HttpClient _http;
    private readonly GcsOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly string _baseUrl;
    private readonly Func<CancellationToken, Task<string?>>? _accessToken;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    public GcsObjectStore(HttpClient httpClient, GcsOptions options, TimeProvider? timeProvider = null, ILogger<GcsObjectStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _http = httpClient;
        _options = options;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;

        var (baseAddress, authenticated) = options.ResolveEndpoint();
        _baseUrl = baseAddress.AbsoluteUri.TrimEnd('/');
        if (authenticated)
        {
            if (options.AccessTokenSource is { } injected)
            {
                _accessToken = injected;
            }
            else
            {
                _accessToken = new AdcTokenSource(options.Scope).GetAccessTokenAsync;
            }
        }

        _retry = GcsRetry.Build(options, _timeProvider, _logger);
        LogCreated(_logger, _baseUrl, authenticated);
    }

    public string UriOf(string bucket, string objectName) => GcsNames.UriOf(bucket, objectName);

    /// <summary>
    /// Uploads <paramref name="source"/> from its current position to its end. With
    /// <see cref="UploadObjectOptions.IfGenerationMatch"/> set, GCS's 412 throws <see cref="ObjectPreconditionFailedException"/>.
    /// A conditional upload whose first answer was lost and whose retry then meets its own new generation fails the same
    /// way: the caller's read-modify-write starts again from what is stored, which holds its own write.
    /// </summary>
    public async Task<StoredObject> UploadObjectAsync(
        string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default)
    {
        var target = new Target(bucket, objectName, GcsNames.UriOf(bucket, objectName));
        ArgumentException.ThrowIfNullOrWhiteSpace(contentType);
        ArgumentNullException.ThrowIfNull(source);
        var ifGenerationMatch = options?.IfGenerationMatch;

        long? knownLength = source.CanSeek ? source.Length - source.Position : null;
        if (knownLength > _options.ResumableThreshold)
        {
            return await ResumableUploadAsync(target, contentType, new UploadReader(ReadOnlyMemory<byte>.Empty, source), knownLength, ifGenerationMatch, cancellationToken);
        }

        // Unknown or small length: read at most threshold + 1 bytes to learn which side of the threshold it is.
        var head = await ReadHeadAsync(source, _options.ResumableThreshold + 1, cancellationToken);
        if (head.Length <= _options.ResumableThreshold)
        {
            return await SimpleUploadAsync(target, contentType, head, ifGenerationMatch, cancellationToken);
        }

        return await ResumableUploadAsync(target, contentType, new UploadReader(head, source), knownLength, ifGenerationMatch, cancellationToken);
    }

    public async Task DownloadObjectAsync(string bucket, string objectName, Stream destination, CancellationToken cancellationToken = default)
    {
        var target = new Target(bucket, objectName, GcsNames.UriOf(bucket, objectName));
        ArgumentNullException.ThrowIfNull(destination);
        var url = $"{ObjectUrl(target)}?alt=media";
        long? start = destination.CanSeek ? destination.Position : null;
        // The body is copied inside the attempt: a connection that breaks mid-body is retried like one that breaks
        // before the headers, from the destination's starting point again.
        using var response = await SendAsync(
            "download " + target.Uri,
            async ct =>
            {
                var attempt = await SendOnceAsync(() => new HttpRequestMessage(HttpMethod.Get, url), HttpCompletionOption.ResponseHeadersRead, ct);
                if (!attempt.IsSuccessStatusCode)
                {
                    return attempt;
                }

                try
                {
                    await CopyBodyAsync(attempt, destination, target.Uri, ct);
                    return attempt;
                }
                catch (Exception e) when (HttpTransience.IsTransient(e, cancellationToken))
                {
                    attempt.Dispose();
                    if (start is not { } position)
                    {
                        throw new GcsRequestException($"GCS download of {target.Uri} broke off mid-body, and the destination stream cannot be rewound to try again: {e.Message}", e);
                    }

                    destination.Position = position;
                    destination.SetLength(position);
                    throw;
                }
            },
            cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ObjectNotFoundException(target.Uri);
        }

        await EnsureSuccessAsync(response, "download of " + target.Uri, cancellationToken);
        LogDownloaded(_logger, target.Uri, response.Content.Headers.ContentLength);
    }

    /// <summary>
    /// Copies a download's body; a failure to write the destination (a full disk) is not the network's and is not
    /// retried: it is thrown as an <see cref="InvalidOperationException"/> naming the object.
    /// </summary>
    private static async Task CopyBodyAsync(HttpResponseMessage response, Stream destination, string uri, CancellationToken ct)
    {
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, ct)) > 0)
            {
                try
                {
                    await destination.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                catch (IOException ex)
                {
                    throw new InvalidOperationException($"writing the download of {uri} to its destination failed: {ex.Message}", ex);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, CancellationToken cancellationToken = default)
    {
        GcsNames.ValidateBucket(bucket);
        ArgumentNullException.ThrowIfNull(prefix);
        var glob = options?.MatchGlob is { } pattern ? ObjectGlob.Parse(pattern) : null;
        return ListPagesAsync(bucket, prefix, glob, cancellationToken);
    }

    public async Task DeleteObjectAsync(string bucket, string objectName, CancellationToken cancellationToken = default)
    {
        var target = new Target(bucket, objectName, GcsNames.UriOf(bucket, objectName));
        var url = ObjectUrl(target);
        using var response = await SendAsync(
            "delete " + target.Uri,
            () => new HttpRequestMessage(HttpMethod.Delete, url),
            HttpCompletionOption.ResponseContentRead,
            cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return;
        }

        await EnsureSuccessAsync(response, "delete of " + target.Uri, cancellationToken);
    }

    private async Task<StoredObject> SimpleUploadAsync(
        Target target, string contentType, ReadOnlyMemory<byte> data, long? ifGenerationMatch, CancellationToken cancellationToken)
    {
        var url = $"{_baseUrl}/upload/storage/v1/b/{GcsNames.Encode(target.Bucket)}/o?uploadType=media&name={GcsNames.Encode(target.Name)}"
            + GenerationQuery(ifGenerationMatch);
        using var response = await SendAsync(
            "upload " + target.Uri,
            () => new HttpRequestMessage(HttpMethod.Post, url) { Content = Body(data, contentType) },
            HttpCompletionOption.ResponseContentRead,
            cancellationToken);
        var stored = await ReadUploadedAsync(response, target, ifGenerationMatch, cancellationToken);
        LogUploaded(_logger, stored.Uri, stored.Size, "simple");
        return stored;
    }

    private async Task<StoredObject> ResumableUploadAsync(
        Target target, string contentType, UploadReader reader, long? knownLength, long? ifGenerationMatch, CancellationToken cancellationToken)
    {
        var session = await StartSessionAsync(target, contentType, knownLength, ifGenerationMatch, cancellationToken);
        LogSessionStarted(_logger, target.Uri, knownLength);

        // One byte more than a chunk: a full chunk is sent only when at least one byte follows it, so the last
        // chunk is always known to be last and carries the total.
        var chunkSize = _options.ChunkSize;
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize + 1);
        try
        {
            long bufferStart = 0;
            var bufferCount = 0;
            var endOfSource = false;
            var stalls = 0;
            while (true)
            {
                while (!endOfSource && bufferCount < chunkSize + 1)
                {
                    var read = await reader.ReadAsync(buffer.AsMemory(bufferCount, chunkSize + 1 - bufferCount), cancellationToken);
                    endOfSource = read == 0;
                    bufferCount += read;
                }

                long? total = endOfSource ? bufferStart + bufferCount : null;
                var sendCount = endOfSource ? bufferCount : chunkSize;
                var chunk = new Chunk(session, buffer.AsMemory(0, sendCount), bufferStart, total);
                using var response = await SendChunkAsync(target, chunk, cancellationToken);
                if (response.StatusCode != ResumeIncomplete)
                {
                    var stored = await ReadUploadedAsync(response, target, ifGenerationMatch, cancellationToken);
                    LogUploaded(_logger, stored.Uri, stored.Size, "resumable");
                    return stored;
                }

                var persisted = PersistedBytes(response);
                if (persisted < bufferStart || persisted > bufferStart + bufferCount)
                {
                    throw new GcsRequestException(
                        $"GCS resumable upload of {target.Uri}: the server reports {persisted} bytes persisted, outside the {bufferStart}..{bufferStart + bufferCount} still held");
                }

                stalls = persisted == bufferStart ? stalls + 1 : 0;
                if (stalls >= _options.MaxAttempts)
                {
                    throw new GcsRequestException($"GCS resumable upload of {target.Uri}: no progress past byte {persisted} after {stalls} chunks");
                }

                // Keep what the server has not acknowledged; the next chunk starts there and is refilled to full size.
                var acknowledged = (int)(persisted - bufferStart);
                buffer.AsSpan(acknowledged, bufferCount - acknowledged).CopyTo(buffer);
                bufferCount -= acknowledged;
                bufferStart = persisted;
                LogChunkAcknowledged(_logger, target.Uri, persisted);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<Uri> StartSessionAsync(
        Target target, string contentType, long? knownLength, long? ifGenerationMatch, CancellationToken cancellationToken)
    {
        var url = $"{_baseUrl}/upload/storage/v1/b/{GcsNames.Encode(target.Bucket)}/o?uploadType=resumable&name={GcsNames.Encode(target.Name)}"
            + GenerationQuery(ifGenerationMatch);
        using var response = await SendAsync(
            "start resumable upload " + target.Uri,
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent([]) };
                request.Headers.TryAddWithoutValidation("X-Upload-Content-Type", contentType);
                if (knownLength is { } length)
                {
                    request.Headers.TryAddWithoutValidation("X-Upload-Content-Length", length.ToString(CultureInfo.InvariantCulture));
                }

                return request;
            },
            HttpCompletionOption.ResponseContentRead,
            cancellationToken);
        if (response.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            throw await PreconditionFailedAsync(response, target, ifGenerationMatch, cancellationToken);
        }

        await EnsureSuccessAsync(response, "start of resumable upload " + target.Uri, cancellationToken);
        if (response.Headers.Location is not { } location)
        {
            throw new GcsRequestException($"GCS resumable upload of {target.Uri}: the session answer has no Location header");
        }

        return location.IsAbsoluteUri ? location : new Uri(new Uri(url), location);
    }

    /// <summary>
    /// Sends one chunk, retried by the policy. After a failed attempt the next one first asks the session how many
    /// bytes it holds (an empty PUT with <c>bytes */total</c>): if the server kept part of the chunk, that answer is
    /// returned so the caller re-chunks from the acknowledged offset; otherwise the chunk is sent again.
    /// </summary>
    private async Task<HttpResponseMessage> SendChunkAsync(Target target, Chunk chunk, CancellationToken cancellationToken)
    {
        var afterFailure = false;
        return await SendAsync(
            "upload chunk of " + target.Uri,
            async ct =>
            {
                if (afterFailure)
                {
                    var status = await SendOnceAsync(() => StatusQuery(chunk), HttpCompletionOption.ResponseContentRead, ct);
                    if (status.StatusCode != ResumeIncomplete || PersistedBytes(status) != chunk.Offset)
                    {
                        return status;
                    }

                    LogResending(_logger, target.Uri, chunk.Offset);
                    status.Dispose();
                }

                afterFailure = true;
                var response = await SendOnceAsync(() => ChunkRequest(chunk), HttpCompletionOption.ResponseContentRead, ct);
                afterFailure = GcsRetry.IsRetryableStatus(response.StatusCode);
                return response;
            },
            cancellationToken);
    }

    private async IAsyncEnumerable<StoredObject> ListPagesAsync(string bucket, string prefix, ObjectGlob? glob, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? pageToken = null;
        do
        {
            var url = $"{_baseUrl}/storage/v1/b/{GcsNames.Encode(bucket)}/o?fields={GcsNames.Encode(ListFields)}";
            if (prefix.Length > 0)
            {
                url += "&prefix=" + GcsNames.Encode(prefix);
            }

            if (glob is not null)
            {
                url += "&matchGlob=" + GcsNames.Encode(glob.Pattern);
            }

            if (_options.ListPageSize is { } pageSize)
            {
                url += "&maxResults=" + pageSize.ToString(CultureInfo.InvariantCulture);
            }

            if (pageToken is not null)
            {
                url += "&pageToken=" + GcsNames.Encode(pageToken);
            }

            GcsObjectList? page;
            using (var response = await SendAsync(
                $"list gs://{bucket}/{prefix}",
                () => new HttpRequestMessage(HttpMethod.Get, url),
                HttpCompletionOption.ResponseContentRead,
                cancellationToken))
            {
                await EnsureSuccessAsync(response, $"list of gs://{bucket}/{prefix}", cancellationToken);
                page = await response.Content.ReadFromJsonAsync(GcsJsonContext.Default.GcsObjectList, cancellationToken);
            }

            foreach (var item in page?.Items ?? [])
            {
                yield return item.ToStoredObject(bucket, item.Name ?? string.Empty);
            }

            pageToken = string.IsNullOrEmpty(page?.NextPageToken) ? null : page.NextPageToken;
        }
        while (pageToken is not null);
    }

    private Task<HttpResponseMessage> SendAsync(
        string operation, Func<HttpRequestMessage> createRequest, HttpCompletionOption completion, CancellationToken cancellationToken) =>
        SendAsync(operation, ct => SendOnceAsync(createRequest, completion, ct), cancellationToken);

    /// <summary>Runs <paramref name="attempt"/> under the retry policy; network failures left after the last attempt become <see cref="GcsRequestException"/>.</summary>
    private async Task<HttpResponseMessage> SendAsync(
        string operation, Func<CancellationToken, Task<HttpResponseMessage>> attempt, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(operation, cancellationToken);
        try
        {
            return await _retry.ExecuteAsync(
                static async (context, attempt) => await attempt(context.CancellationToken),
                context,
                attempt);
        }
        catch (Exception e) when (e is HttpRequestException or IOException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new GcsRequestException($"GCS {operation} failed after {_options.MaxAttempts} attempts: {e.Message}", e);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private async Task<HttpResponseMessage> SendOnceAsync(Func<HttpRequestMessage> createRequest, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        using var request = createRequest();
        if (_accessToken is not null && await _accessToken(cancellationToken) is { Length: > 0 } token)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return await _http.SendAsync(request, completion, cancellationToken);
    }

    private async Task<StoredObject> ReadUploadedAsync(HttpResponseMessage response, Target target, long? ifGenerationMatch, CancellationToken cancellationToken)
    {
        if (response.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            throw await PreconditionFailedAsync(response, target, ifGenerationMatch, cancellationToken);
        }

        await EnsureSuccessAsync(response, "upload of " + target.Uri, cancellationToken);
        var resource = await response.Content.ReadFromJsonAsync(GcsJsonContext.Default.GcsObjectResource, cancellationToken)
            ?? throw new GcsRequestException($"GCS upload of {target.Uri}: the answer holds no Object resource");
        return resource.ToStoredObject(target.Bucket, target.Name);
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string operation, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        throw new GcsRequestException(response.StatusCode, GcsJsonContext.ErrorMessage(body), operation);
    }

    private static async Task<ObjectPreconditionFailedException> PreconditionFailedAsync(
        HttpResponseMessage response, Target target, long? ifGenerationMatch, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var message = GcsJsonContext.ErrorMessage(body);
        return new ObjectPreconditionFailedException(target.Uri, ifGenerationMatch, message, new GcsRequestException(response.StatusCode, message, "upload of " + target.Uri));
    }

    /// <summary>Bytes the session holds, from the 308 answer's <c>Range: bytes=0-N</c>; no Range means none.</summary>
    private static long PersistedBytes(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Range", out var values))
        {
            return 0;
        }

        var range = values.FirstOrDefault() ?? string.Empty;
        var dash = range.LastIndexOf('-');
        if (!range.StartsWith("bytes=0-", StringComparison.Ordinal)
            || !long.TryParse(range.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var last))
        {
            throw new GcsRequestException($"GCS resumable upload: unexpected Range header '{range}'");
        }

        return last + 1;
    }

    private static HttpRequestMessage ChunkRequest(Chunk chunk)
    {
        var content = new ReadOnlyMemoryContent(chunk.Data);
        var range = chunk.Data.Length == 0
            ? $"bytes */{chunk.Total}"
            : $"bytes {chunk.Offset}-{chunk.Offset + chunk.Data.Length - 1}/{(chunk.Total is { } total ? total.ToString(CultureInfo.InvariantCulture) : "*")}";
        content.Headers.TryAddWithoutValidation("Content-Range", range);
        return new HttpRequestMessage(HttpMethod.Put, chunk.Session) { Content = content };
    }

    private static HttpRequestMessage StatusQuery(Chunk chunk)
    {
        var content = new ByteArrayContent([]);
        content.Headers.TryAddWithoutValidation("Content-Range", $"bytes */{(chunk.Total is { } total ? total.ToString(CultureInfo.InvariantCulture) : "*")}");
        return new HttpRequestMessage(HttpMethod.Put, chunk.Session) { Content = content };
    }

    private static ReadOnlyMemoryContent Body(ReadOnlyMemory<byte> data, string contentType)
    {
        var content = new ReadOnlyMemoryContent(data);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    private static string GenerationQuery(long? ifGenerationMatch) =>
        ifGenerationMatch is { } generation ? "&ifGenerationMatch=" + generation.ToString(CultureInfo.InvariantCulture) : string.Empty;

    private static async Task<ReadOnlyMemory<byte>> ReadHeadAsync(Stream source, long limit, CancellationToken cancellationToken)
    {
        using var head = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            while (head.Length < limit)
            {
                var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, limit - head.Length)), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                head.Write(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return head.GetBuffer().AsMemory(0, (int)head.Length);
    }

    private string ObjectUrl(Target target) =>
        $"{_baseUrl}/storage/v1/b/{GcsNames.Encode(target.Bucket)}/o/{GcsNames.Encode(target.Name)}";

    private sealed record Target(string Bucket, string Name, string Uri);

    /// <summary>Bytes at <see cref="Offset"/> of a session; <see cref="Total"/> is known only for the last chunk.</summary>
    private sealed record Chunk(Uri Session, ReadOnlyMemory<byte> Data, long Offset, long? Total);

    /// <summary>Bytes already read to choose the upload type, then the rest of the source.</summary>
    private sealed class UploadReader(ReadOnlyMemory<byte> head, Stream rest)
    {
        private ReadOnlyMemory<byte> _head = head;

        public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
        {
            if (_head.IsEmpty)
            {
                return await rest.ReadAsync(destination, cancellationToken);
            }

            var count = Math.Min(_head.Length, destination.Length);
            _head[..count].CopyTo(destination);
            _head = _head[count..];
            return count;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "GCS object store at {BaseUrl} (authenticated: {Authenticated})")]
    private static partial void LogCreated(ILogger logger, string baseUrl, bool authenticated);

    [LoggerMessage(Level = LogLevel.Information, Message = "Uploaded {Uri} ({Size} bytes, {UploadType} upload)")]
    private static partial void LogUploaded(ILogger logger, string uri, long size, string uploadType);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Started resumable upload of {Uri} (length {Length})")]
    private static partial void LogSessionStarted(ILogger logger, string uri, long? length);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Resumable upload of {Uri}: {Persisted} bytes acknowledged")]
    private static partial void LogChunkAcknowledged(ILogger logger, string uri, long persisted);

    [LoggerMessage(Level = LogLevel.Information, Message = "Resumable upload of {Uri}: the server holds {Offset} bytes after a failure; resending from there")]
    private static partial void LogResending(ILogger logger, string uri, long offset);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Downloaded {Uri} ({Length} bytes)")]
    private static partial void LogDownloaded(ILogger logger, string uri, long? length);
}
