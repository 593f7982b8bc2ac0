using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.DevServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FinancialPipeline.Storage.Tests;

/// <summary>One request as the fake server saw it, names already decoded the way GCS decodes them.</summary>
public sealed record RecordedRequest(
    string Method,
    string RawTarget,
    IReadOnlyList<string> PathSegments,
    IReadOnlyDictionary<string, string> Query,
    long Timestamp,
    int BodyLength,
    string? ContentRange,
    string? Authorization)
{
    public bool IsChunk => Method == "PUT" && Query.ContainsKey("upload_id");

    public bool IsStatusQuery => IsChunk && BodyLength == 0 && ContentRange?.StartsWith("bytes */", StringComparison.Ordinal) == true;

    public bool IsResumableStart => Method == "POST" && Query.GetValueOrDefault("uploadType") == "resumable";

    public bool IsSimpleUpload => Method == "POST" && Query.GetValueOrDefault("uploadType") == "media";
}

public sealed record FakeObject(string Bucket, string Name, byte[] Data, string ContentType, long Generation, DateTimeOffset Updated);

/// <summary>How an armed chunk failure ends the request, after the server kept part of the chunk.</summary>
public enum ChunkFailure
{
    /// <summary>Answer 503.</summary>
    ServiceUnavailable,

    /// <summary>Drop the connection without an answer.</summary>
    ConnectionReset,
}

/// <summary>
/// An in-memory Cloud Storage JSON API on Kestrel (127.0.0.1, free port): simple and resumable upload, ifGenerationMatch,
/// alt=media download, paged list, delete, with fault injection. Paths and query strings are decoded from the raw
/// request target exactly as GCS does (each path segment and query value percent-decoded as UTF-8, '+' in a query
/// value is a space), so a client that encodes names wrongly stores or finds the wrong object.
/// </summary>
public sealed class FakeGcsServer : IAsyncDisposable
{
    private const int ChunkGranularity = 256 * 1024;
    private readonly Lock _lock = new();
    private readonly SortedDictionary<(string Bucket, string Name), FakeObject> _objects = new(new KeyComparer());
    private readonly Dictionary<string, Session> _sessions = [];
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<Fault> _faults = [];
    private LoopbackHttpServer _http = null!;
    private ChunkFault? _chunkFault;
    private int _brokenDownloads;
    private int _brokenDownloadKeep;
    private long _generation = 1_700_000_000_000_000;

    private FakeGcsServer()
    {
    }

    public Uri BaseAddress => _http.BaseAddress;

    /// <summary>Most objects a list page holds, whatever maxResults asks.</summary>
    public int PageSize { get; set; } = 2;

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    public static async Task<FakeGcsServer> StartAsync()
    {
        var server = new FakeGcsServer();
        server._http = await LoopbackHttpServer.StartAsync(server.HandleAsync);
        return server;
    }

    public FakeObject? Find(string bucket, string name)
    {
        lock (_lock)
        {
            return _objects.GetValueOrDefault((bucket, name));
        }
    }

    public void Put(string bucket, string name, byte[] data)
    {
        lock (_lock)
        {
            Store(bucket, name, data, "application/octet-stream");
        }
    }

    /// <summary>The next <paramref name="count"/> requests (matching <paramref name="match"/>, if given) get <paramref name="status"/>.</summary>
    public void FailNext(int count, HttpStatusCode status, TimeSpan? retryAfter = null, string? message = null, Func<RecordedRequest, bool>? match = null)
    {
        lock (_lock)
        {
            _faults.Add(new Fault(status, retryAfter, message ?? $"injected {(int)status}", match ?? (_ => true)) { Remaining = count });
        }
    }

    /// <summary>The <paramref name="chunkNumber"/>-th chunk PUT (1-based) from now keeps only its first <paramref name="keepBytes"/> and fails.</summary>
    public void FailChunk(int chunkNumber, int keepBytes, ChunkFailure failure)
    {
        lock (_lock)
        {
            _chunkFault = new ChunkFault(chunkNumber, keepBytes, failure);
        }
    }

    /// <summary>
    /// The next <paramref name="count"/> object downloads announce the whole length, send only the first
    /// <paramref name="keepBytes"/> and drop the connection (a reset or a front end restarting mid-response).
    /// </summary>
    public void BreakDownloads(int count, int keepBytes)
    {
        lock (_lock)
        {
            _brokenDownloads = count;
            _brokenDownloadKeep = keepBytes;
        }
    }

    public ValueTask DisposeAsync() => _http.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        var body = await ReadBodyAsync(context.Request);
        var rawTarget = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        var queryStart = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var rawPath = queryStart < 0 ? rawTarget : rawTarget[..queryStart];
        var request = new RecordedRequest(
            context.Request.Method,
            rawTarget,
            [.. rawPath.Split('/').Skip(1).Select(Uri.UnescapeDataString)],
            ParseQuery(queryStart < 0 ? string.Empty : rawTarget[(queryStart + 1)..]),
            TimeProvider.System.GetTimestamp(),
            body.Length,
            context.Request.Headers["Content-Range"].FirstOrDefault(),
            context.Request.Headers.Authorization.FirstOrDefault());

        Reply reply;
        var breakAfter = -1;
        lock (_lock)
        {
            _requests.Add(request);
            reply = TakeFault(request) ?? Route(request, body, context.Request.ContentType, context.Request.Headers["X-Upload-Content-Type"].FirstOrDefault());
            if (_brokenDownloads > 0 && request.Method == "GET" && request.Query.GetValueOrDefault("alt") == "media" && reply.Status == HttpStatusCode.OK)
            {
                _brokenDownloads--;
                breakAfter = Math.Min(_brokenDownloadKeep, reply.Body.Length);
            }
        }

        if (breakAfter >= 0)
        {
            context.Response.ContentLength = reply.Body.Length;
            await context.Response.Body.WriteAsync(reply.Body.AsMemory(0, breakAfter));
            await context.Response.Body.FlushAsync();
            context.Abort();
            return;
        }

        if (reply.Abort)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = (int)reply.Status;
        foreach (var (name, value) in reply.Headers)
        {
            context.Response.Headers[name] = value;
        }

        if (reply.ContentType is not null)
        {
            context.Response.ContentType = reply.ContentType;
        }

        if (reply.Body.Length > 0)
        {
            await context.Response.Body.WriteAsync(reply.Body);
        }
    }

    private Reply? TakeFault(RecordedRequest request)
    {
        var fault = _faults.FirstOrDefault(f => f.Remaining > 0 && f.Match(request));
        if (fault is null)
        {
            return null;
        }

        fault.Remaining--;
        var reply = Error(fault.Status, fault.Message);
        return fault.RetryAfter is { } after
            ? reply with { Headers = [("Retry-After", ((int)after.TotalSeconds).ToString(CultureInfo.InvariantCulture))] }
            : reply;
    }

    private Reply Route(RecordedRequest request, byte[] body, string? contentType, string? uploadContentType)
    {
        var s = request.PathSegments;
        return (request.Method, s.Count) switch
        {
            ("POST", 6) when s is ["upload", "storage", "v1", "b", _, "o"] => Upload(request, s[4], body, contentType, uploadContentType),
            ("PUT", 6) when s is ["upload", "storage", "v1", "b", _, "o"] => Chunk(request, body),
            ("GET", 5) when s is ["storage", "v1", "b", _, "o"] => List(request, s[3]),
            ("GET", 6) when s is ["storage", "v1", "b", _, "o", _] => Get(request, s[3], s[5]),
            ("DELETE", 6) when s is ["storage", "v1", "b", _, "o", _] => Delete(s[3], s[5]),
            _ => Error(HttpStatusCode.NotFound, $"no such route: {request.Method} {request.RawTarget}"),
        };
    }

    private Reply Upload(RecordedRequest request, string bucket, byte[] body, string? contentType, string? uploadContentType)
    {
        if (!request.Query.TryGetValue("name", out var name) || name.Length == 0)
        {
            return Error(HttpStatusCode.BadRequest, "Required parameter: name");
        }

        var ifGenerationMatch = request.Query.TryGetValue("ifGenerationMatch", out var g) ? long.Parse(g, CultureInfo.InvariantCulture) : (long?)null;
        if (!PreconditionHolds(bucket, name, ifGenerationMatch))
        {
            return Error(HttpStatusCode.PreconditionFailed, "At least one of the pre-conditions you specified did not hold.");
        }

        switch (request.Query.GetValueOrDefault("uploadType"))
        {
            case "media":
                return ObjectReply(Store(bucket, name, body, contentType ?? "application/octet-stream"));
            case "resumable":
                var id = Guid.NewGuid().ToString("N");
                _sessions[id] = new Session(bucket, name, ifGenerationMatch, uploadContentType ?? "application/octet-stream");
                var location = new Uri(BaseAddress, $"/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={id}");
                return new Reply(HttpStatusCode.OK) { Headers = [("Location", location.AbsoluteUri)] };
            default:
                return Error(HttpStatusCode.BadRequest, "unsupported uploadType");
        }
    }

    private Reply Chunk(RecordedRequest request, byte[] body)
    {
        if (!request.Query.TryGetValue("upload_id", out var id) || !_sessions.TryGetValue(id, out var session))
        {
            return Error(HttpStatusCode.NotFound, "No such upload session");
        }

        if (session.Completed is { } done)
        {
            return ObjectReply(done);
        }

        if (!TryParseContentRange(request.ContentRange, out var first, out var last, out var total))
        {
            return Error(HttpStatusCode.BadRequest, $"Invalid Content-Range '{request.ContentRange}'");
        }

        if (first is null)
        {
            // Status query; with the total known and all bytes held, it completes the upload as GCS does.
            if (body.Length != 0)
            {
                return Error(HttpStatusCode.BadRequest, "a status query has no body");
            }

            return total == session.Data.Length ? Finish(session) : Incomplete(session);
        }

        if (last - first + 1 != body.Length)
        {
            return Error(HttpStatusCode.BadRequest, $"Content-Range {request.ContentRange} does not match the {body.Length} bytes sent");
        }

        if (first != session.Data.Length)
        {
            return Error(HttpStatusCode.BadRequest, $"chunk starts at {first} but the session holds {session.Data.Length} bytes");
        }

        if (total is null && body.Length % ChunkGranularity != 0)
        {
            return Error(HttpStatusCode.BadRequest, $"a non-final chunk of {body.Length} bytes is not a multiple of 256 KiB");
        }

        if (_chunkFault is { } fault && --fault.Countdown == 0)
        {
            _chunkFault = null;
            session.Data.Write(body, 0, Math.Min(fault.KeepBytes, body.Length));
            return fault.Failure == ChunkFailure.ConnectionReset ? new Reply(HttpStatusCode.OK) { Abort = true } : Error(HttpStatusCode.ServiceUnavailable, "chunk failed mid-way");
        }

        session.Data.Write(body);
        if (total is { } t)
        {
            return session.Data.Length == t ? Finish(session) : Error(HttpStatusCode.BadRequest, $"total {t} but {session.Data.Length} bytes were sent");
        }

        return Incomplete(session);
    }

    private Reply Finish(Session session)
    {
        if (!PreconditionHolds(session.Bucket, session.Name, session.IfGenerationMatch))
        {
            return Error(HttpStatusCode.PreconditionFailed, "At least one of the pre-conditions you specified did not hold.");
        }

        session.Completed = Store(session.Bucket, session.Name, session.Data.ToArray(), session.ContentType);
        return ObjectReply(session.Completed);
    }

    private static Reply Incomplete(Session session) => new((HttpStatusCode)308)
    {
        Headers = session.Data.Length == 0 ? [] : [("Range", $"bytes=0-{session.Data.Length - 1}")],
    };

    private Reply Get(RecordedRequest request, string bucket, string name)
    {
        if (!_objects.TryGetValue((bucket, name), out var found))
        {
            return Error(HttpStatusCode.NotFound, $"No such object: {bucket}/{name}");
        }

        return request.Query.GetValueOrDefault("alt") == "media"
            ? new Reply(HttpStatusCode.OK) { Body = found.Data, ContentType = found.ContentType }
            : ObjectReply(found);
    }

    private Reply List(RecordedRequest request, string bucket)
    {
        var prefix = request.Query.GetValueOrDefault("prefix") ?? string.Empty;
        var glob = request.Query.TryGetValue("matchGlob", out var pattern) ? ObjectGlob.Parse(pattern) : null;
        var after = request.Query.TryGetValue("pageToken", out var token) ? Encoding.UTF8.GetString(Convert.FromBase64String(token)) : null;
        var pageSize = Math.Min(PageSize, request.Query.TryGetValue("maxResults", out var max) ? int.Parse(max, CultureInfo.InvariantCulture) : int.MaxValue);
        var matching = _objects.Values
            .Where(o => o.Bucket == bucket && o.Name.StartsWith(prefix, StringComparison.Ordinal) && (glob is null || glob.IsMatch(o.Name)) && (after is null || string.CompareOrdinal(o.Name, after) > 0))
            .ToList();
        var page = matching.Take(pageSize).ToList();
        var json = new JsonObject
        {
            ["kind"] = "storage#objects",
            ["items"] = new JsonArray([.. page.Select(ObjectJson)]),
        };
        if (matching.Count > page.Count)
        {
            // Base64 holds '+', '/' and '=': the token only comes back intact if the client encodes it.
            json["nextPageToken"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(page[^1].Name));
        }

        return JsonReply(HttpStatusCode.OK, json);
    }

    private Reply Delete(string bucket, string name) =>
        _objects.Remove((bucket, name)) ? new Reply(HttpStatusCode.NoContent) : Error(HttpStatusCode.NotFound, $"No such object: {bucket}/{name}");

    private bool PreconditionHolds(string bucket, string name, long? ifGenerationMatch) =>
        ifGenerationMatch switch
        {
            null => true,
            0 => !_objects.ContainsKey((bucket, name)),
            { } generation => _objects.TryGetValue((bucket, name), out var existing) && existing.Generation == generation,
        };

    private FakeObject Store(string bucket, string name, byte[] data, string contentType)
    {
        var stored = new FakeObject(bucket, name, data, contentType, ++_generation, TimeProvider.System.GetUtcNow());
        _objects[(bucket, name)] = stored;
        return stored;
    }

    private static Reply ObjectReply(FakeObject stored) => JsonReply(HttpStatusCode.OK, ObjectJson(stored));

    private static JsonObject ObjectJson(FakeObject o) => new()
    {
        ["kind"] = "storage#object",
        ["id"] = $"{o.Bucket}/{o.Name}/{o.Generation}",
        ["bucket"] = o.Bucket,
        ["name"] = o.Name,
        ["contentType"] = o.ContentType,
        ["generation"] = o.Generation.ToString(CultureInfo.InvariantCulture),
        ["metageneration"] = "1",
        ["size"] = o.Data.Length.ToString(CultureInfo.InvariantCulture),
        ["timeCreated"] = o.Updated.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        ["updated"] = o.Updated.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
    };

    private static Reply Error(HttpStatusCode status, string message) => JsonReply(
        status,
        new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["code"] = (int)status,
                ["message"] = message,
                ["errors"] = new JsonArray(new JsonObject { ["message"] = message, ["domain"] = "global" }),
            },
        });

    private static Reply JsonReply(HttpStatusCode status, JsonNode json) =>
        new(status) { Body = Encoding.UTF8.GetBytes(json.ToJsonString()), ContentType = "application/json; charset=UTF-8" };

    private static Dictionary<string, string> ParseQuery(string query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? pair : pair[..eq];
            var value = eq < 0 ? string.Empty : pair[(eq + 1)..];
            result[Decode(key)] = Decode(value);
        }

        return result;

        static string Decode(string part) => Uri.UnescapeDataString(part.Replace('+', ' '));
    }

    /// <summary>"bytes a-b/total", "bytes a-b/*", "bytes */total" or "bytes */*".</summary>
    private static bool TryParseContentRange(string? header, out long? first, out long? last, out long? total)
    {
        first = last = total = null;
        if (header is null || !header.StartsWith("bytes ", StringComparison.Ordinal))
        {
            return false;
        }

        var parts = header["bytes ".Length..].Split('/');
        if (parts.Length != 2)
        {
            return false;
        }

        if (parts[1] != "*")
        {
            if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var t))
            {
                return false;
            }

            total = t;
        }

        if (parts[0] == "*")
        {
            return true;
        }

        var bounds = parts[0].Split('-');
        if (bounds.Length != 2
            || !long.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out var a)
            || !long.TryParse(bounds[1], NumberStyles.None, CultureInfo.InvariantCulture, out var b)
            || b < a)
        {
            return false;
        }

        first = a;
        last = b;
        return true;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private sealed record Reply(HttpStatusCode Status)
    {
        public IReadOnlyList<(string Name, string Value)> Headers { get; init; } = [];

        public byte[] Body { get; init; } = [];

        public string? ContentType { get; init; }

        public bool Abort { get; init; }
    }

    private sealed record Fault(HttpStatusCode Status, TimeSpan? RetryAfter, string Message, Func<RecordedRequest, bool> Match)
    {
        public int Remaining { get; set; }
    }

    private sealed class ChunkFault(int chunkNumber, int keepBytes, ChunkFailure failure)
    {
        public int Countdown { get; set; } = chunkNumber;

        public int KeepBytes { get; } = keepBytes;

        public ChunkFailure Failure { get; } = failure;
    }

    private sealed class Session(string bucket, string name, long? ifGenerationMatch, string contentType)
    {
        public string Bucket { get; } = bucket;

        public string Name { get; } = name;

        public long? IfGenerationMatch { get; } = ifGenerationMatch;

        public string ContentType { get; } = contentType;

        public MemoryStream Data { get; } = new();

        public FakeObject? Completed { get; set; }
    }

    private sealed class KeyComparer : IComparer<(string Bucket, string Name)>
    {
        public int Compare((string Bucket, string Name) x, (string Bucket, string Name) y)
        {
            var byBucket = string.CompareOrdinal(x.Bucket, y.Bucket);
            return byBucket != 0 ? byBucket : string.CompareOrdinal(x.Name, y.Name);
        }
    }
}
