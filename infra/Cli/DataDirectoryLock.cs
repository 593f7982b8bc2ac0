namespace FinancialPipeline.Cli;

/// <summary>
/// The data directory of <c>fp up</c> and <c>fp run</c>, checked and taken for the stack's life before anything starts:
/// an exclusive lock on <c>DATA/.fp-lock</c> (FileShare.None, an flock on Linux, which the kernel drops when the process
/// ends, killed or not). Two stacks on one directory would each run an Aggregate host on the same DuckDB file, and gold
/// fails on DuckDB's lock; their Transforms would rewrite the same silver partitions under two PostgreSQL clusters'
/// advisory locks, which do not exclude each other.
/// </summary>
internal sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = ".fp-lock";

    /// <summary>EWOULDBLOCK, how .NET on Unix reports the flock another process holds; Windows' ERROR_SHARING_VIOLATION.</summary>
    private static readonly int[] HeldElsewhere = [11, unchecked((int)0x80070020)];

    private readonly FileStream _file;

    private DataDirectoryLock(FileStream file) => _file = file;

    /// <summary>Whether <paramref name="dataDirectory"/> is a file, said in one line on stderr when it is (a usage error, exit 2).</summary>
    public static bool IsAFile(string command, string dataDirectory)
    {
        var directory = Path.GetFullPath(dataDirectory);
        if (!File.Exists(directory))
        {
            return false;
        }

        Console.Error.WriteLine($"fp {command}: --data-dir '{directory}' is a file, not a directory (--data-dir, else FP_DATA_DIR, else ./.fp)");
        return true;
    }

    /// <summary>The lock on <paramref name="dataDirectory"/> (created if missing); null, with one line on stderr, when it cannot be had.</summary>
    public static DataDirectoryLock? TryAcquire(string command, string dataDirectory)
    {
        if (IsAFile(command, dataDirectory))
        {
            return null;
        }

        var directory = Path.GetFullPath(dataDirectory);
        var path = Path.Combine(directory, FileName);
        try
        {
            Directory.CreateDirectory(directory);
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return new DataDirectoryLock(file);
        }
        catch (IOException ex) when (HeldElsewhere.Contains(ex.HResult))
        {
            Console.Error.WriteLine($"fp {command}: --data-dir '{directory}' is in use by another fp up or fp run (it holds {path}); stop that one, or give this one another --data-dir");
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"fp {command}: --data-dir '{directory}' cannot be used: {ex.Message}");
            return null;
        }
    }

    public void Dispose() => _file.Dispose();
}
