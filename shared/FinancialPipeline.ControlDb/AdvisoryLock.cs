using System.IO.Hashing;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// Session-level PostgreSQL advisory locks on a dedicated connection: serialises writers across processes
/// (e.g. the silver writers of one job). Released on dispose, or by the server if the process dies.
/// </summary>
public sealed partial class AdvisoryLocks(NpgsqlDataSource dataSource, ILogger<AdvisoryLocks>? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger<AdvisoryLocks>.Instance;

    /// <summary>
    /// Takes the lock, waiting as long as another writer holds it: no command timeout (a writer waiting its turn is
    /// healthy), only <paramref name="cancellationToken"/> ends the wait (the stage's: a lost lease, an aborted request).
    /// </summary>
    public async Task<IAsyncDisposable> AcquireAsync(string name, CancellationToken cancellationToken)
    {
        var key = unchecked((long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(name)));
        var conn = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", conn);
            tryLock.Parameters.AddWithValue("key", key);
            if (await tryLock.ExecuteScalarAsync(cancellationToken) is not true)
            {
                LogWaiting(_logger, name.Split(':')[0], name);
                await using var wait = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", conn) { CommandTimeout = 0 };
                wait.Parameters.AddWithValue("key", key);
                try
                {
                    await wait.ExecuteNonQueryAsync(cancellationToken);
                }
                catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException($"stopped waiting for the lock {name} held by another writer: the stage was cancelled", ex, cancellationToken);
                }
            }

            return new Held(conn, key);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "waiting for the {Kind} lock {Name} held by another writer")]
    private static partial void LogWaiting(ILogger logger, string kind, string name);

    private sealed class Held(NpgsqlConnection conn, long key) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var cmd = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", conn);
                cmd.Parameters.AddWithValue("key", key);
                await cmd.ExecuteNonQueryAsync(CancellationToken.None);
            }
            finally
            {
                await conn.DisposeAsync();
            }
        }
    }
}
