using System.Runtime.CompilerServices;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Storage.Gcs;

namespace FinancialPipeline.Storage;

/// <summary>
/// Buckets as directories under <see cref="Root"/>, objects as files with the same names as on GCS.
/// Uploads write a temporary sibling and rename it over the target, so a reader sees the old object or
/// the new one and a crash mid-write leaves no partial object.
/// <para>An object's generation is its file's modification time in ticks. The rename, and the check of
/// <see cref="UploadObjectOptions.IfGenerationMatch"/> before it, happen under a per-bucket lock file (an exclusive
/// <c>flock</c>, so it holds across processes and is released if the process dies), and each upload's time is set
/// above the generation it replaces: generations only grow, even for uploads within the file system's clock tick.</para>
/// </summary>
public sealed class FileSystemObjectStore : IObjectStore
{
    private const string TempMarker = ".tmp-";

    /// <summary>Beside the buckets: a directory name no bucket can have (bucket names start with a letter or digit).</summary>
    private const string LockDirectory = ".locks";

    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);

    public FileSystemObjectStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string UriOf(string bucket, string objectName) => new Uri(PathOf(bucket, objectName)).AbsoluteUri;

    public string PathOf(string bucket, string objectName)
    {
        ValidateBucket(bucket);
        ValidateObjectName(objectName);
        return Path.Combine(Root, bucket, objectName.Replace('/', Path.DirectorySeparatorChar));
    }

    public async Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default)
    {
        var target = PathOf(bucket, objectName);
        var directory = Path.GetDirectoryName(target)!;
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (IOException ex) when (FileInTheWay(directory) is { } file)
        {
            // .NET says "Could not find a part of the path" of a path that exists: name what is wrong.
            throw new IOException($"cannot write {UriOf(bucket, objectName)}: {file} is a file, not a directory", ex);
        }

        var temp = Path.Combine(directory, $".{Path.GetFileName(target)}{TempMarker}{Guid.NewGuid():N}");
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await source.CopyToAsync(file, cancellationToken);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }

            using (await LockBucketAsync(bucket, cancellationToken))
            {
                var current = File.Exists(target) ? GenerationOf(File.GetLastWriteTimeUtc(target)) : 0;
                if (options?.IfGenerationMatch is { } expected && expected != current)
                {
                    throw new ObjectPreconditionFailedException(UriOf(bucket, objectName), expected, current == 0 ? "no live object" : $"live generation {current}");
                }

                var written = GenerationOf(File.GetLastWriteTimeUtc(temp));
                File.SetLastWriteTimeUtc(temp, new DateTime(Math.Max(written, current + 1), DateTimeKind.Utc));
                File.Move(temp, target, overwrite: true);
            }
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        return Describe(bucket, objectName, new FileInfo(target));
    }

    /// <summary>The nearest existing ancestor of <paramref name="directory"/> (itself included) when it is a file.</summary>
    private static string? FileInTheWay(string directory)
    {
        for (var path = directory; !string.IsNullOrEmpty(path); path = Path.GetDirectoryName(path))
        {
            if (File.Exists(path))
            {
                return path;
            }

            if (Directory.Exists(path))
            {
                return null;
            }
        }

        return null;
    }

    public async Task DownloadObjectAsync(string bucket, string objectName, Stream destination, CancellationToken cancellationToken = default)
    {
        var path = PathOf(bucket, objectName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ObjectNotFoundException(UriOf(bucket, objectName));
        }

        await using (file)
        {
            await file.CopyToAsync(destination, cancellationToken);
        }
    }

    public async IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ValidateBucket(bucket);
        var glob = options?.MatchGlob is { } pattern ? ObjectGlob.Parse(pattern) : null;
        var bucketDir = Path.Combine(Root, bucket);
        if (!Directory.Exists(bucketDir))
        {
            yield break;
        }

        // Start from the deepest directory the prefix names, then filter by the full prefix.
        var slash = prefix.LastIndexOf('/');
        var startDir = slash < 0 ? bucketDir : Path.Combine(bucketDir, prefix[..slash]);
        if (!Directory.Exists(startDir))
        {
            yield break;
        }

        var names = new List<(string Name, FileInfo Info)>();
        foreach (var file in new DirectoryInfo(startDir).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            if (file.Name.StartsWith('.') && file.Name.Contains(TempMarker, StringComparison.Ordinal))
            {
                continue;
            }

            var name = Path.GetRelativePath(bucketDir, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (name.StartsWith(prefix, StringComparison.Ordinal) && (glob is null || glob.IsMatch(name)))
            {
                names.Add((name, file));
            }
        }

        names.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var (name, info) in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return Describe(bucket, name, info);
        }

        await Task.CompletedTask;
    }

    public async Task DeleteObjectAsync(string bucket, string objectName, CancellationToken cancellationToken = default)
    {
        var path = PathOf(bucket, objectName);
        using (await LockBucketAsync(bucket, cancellationToken))
        {
            File.Delete(path);
        }
    }

    private static long GenerationOf(DateTime lastWriteUtc) => lastWriteUtc.Ticks;

    private StoredObject Describe(string bucket, string name, FileInfo info) =>
        new(bucket, name, info.Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero), UriOf(bucket, name), GenerationOf(info.LastWriteTimeUtc));

    /// <summary>
    /// The bucket's lock: an exclusive open of its lock file, which .NET takes as an <c>flock</c> on Unix, so writers in
    /// other processes (several local function hosts) wait for it too. It is held only around a check and a rename.
    /// </summary>
    private async Task<IDisposable> LockBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(Root, LockDirectory);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, bucket + ".lock");
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (waited.Elapsed < LockTimeout)
            {
                // Held by another writer: the check-and-rename it guards takes well under a millisecond.
                await Task.Delay(1, cancellationToken);
            }
            catch (IOException ex)
            {
                throw new IOException($"could not lock bucket {bucket} ({path}) within {LockTimeout.TotalSeconds:F0} s: {ex.Message}", ex);
            }
        }
    }

    private static void ValidateBucket(string bucket) => BucketNames.Validate(bucket);

    /// <summary>GCS's object-name rule, plus what makes a name a safe relative path: no empty, '.' or '..' segment, no backslash or NUL.</summary>
    private static void ValidateObjectName(string objectName)
    {
        GcsNames.ValidateObjectName(objectName);
        if (objectName.StartsWith('/') || objectName.Contains('\\', StringComparison.Ordinal) || objectName.Contains('\0', StringComparison.Ordinal)
            || objectName.Split('/').Any(segment => segment is "" or "." or ".."))
        {
            throw new ArgumentException($"object name '{objectName}' is not valid here (no empty, '.' or '..' segments, no backslash or control characters)", nameof(objectName));
        }
    }
}
