using System.IO.Hashing;
using System.Text;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// Session-level PostgreSQL advisory locks on a dedicated connection: serialises writers across processes
/// (e.g. the silver writers of one job). Released on dispose, or by the server if the process dies.
/// </summary>
public sealed class AdvisoryLocks(NpgsqlDataSource dataSource)
{
    public async Task<IAsyncDisposable> AcquireAsync(string name, CancellationToken cancellationToken)
    {
        var key = unchecked((long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(name)));
        var conn = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", conn);
            cmd.Parameters.AddWithValue("key", key);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
            return new Held(conn, key);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

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
