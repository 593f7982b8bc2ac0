using DuckDB.NET.Data;

namespace FinancialPipeline.Warehouse;

/// <summary>One row of <c>financial_data_hour</c>, as an operator reads it.</summary>
/// <param name="Currency">Null when unknown, and in a table an earlier version created that no MERGE has migrated yet.</param>
public sealed record GoldHour(
    string Ticker, DateTimeOffset Hour, double Open, double High, double Low, double Close, long Volume, double? Vwap,
    long BarCount, double? ReturnPct, double? RangePct, string ExecutionId, DateTimeOffset UpdatedAt, string? Currency = null);

/// <summary>What gold holds (of one ticker, or of all): rows, tickers, first and last hour.</summary>
public sealed record GoldSummary(long Rows, long Tickers, DateTimeOffset? FirstHour, DateTimeOffset? LastHour);

/// <summary>The gold file cannot be read; the message says why and what to do.</summary>
public sealed class GoldUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Reads the local gold DuckDB file read-only, for <c>fp gold</c>. The Aggregate function opens the file only for the
/// length of a MERGE, and DuckDB lets no reader in while a writer holds it, so a busy file is retried for a few seconds.
/// </summary>
public static class DuckDbGoldReader
{
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(5);

    /// <param name="ticker">Only this ticker (compared exactly; gold tickers are upper case), or all.</param>
    /// <param name="limit">The newest rows to return, newest hour first.</param>
    public static async Task<(GoldSummary Summary, IReadOnlyList<GoldHour> Newest)> ReadNewestAsync(
        string databasePath, string? ticker, int limit, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (!File.Exists(databasePath))
        {
            throw new GoldUnavailableException($"no gold file at {databasePath}: no Aggregate run has written gold there yet (fp run --data-dir, or FP_DATA_DIR, names the data directory)");
        }

        await using var conn = await OpenReadOnlyAsync(databasePath, time, cancellationToken);
        await DuckDbUtc.SetSessionAsync(conn, cancellationToken);

        await using (var exists = conn.CreateCommand())
        {
            exists.CommandText = "SELECT count(*) FROM information_schema.tables WHERE table_name = $table";
            exists.Parameters.Add(new DuckDBParameter("table", DuckDbGoldWarehouse.Table));
            if (Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                throw new GoldUnavailableException($"{databasePath} has no {DuckDbGoldWarehouse.Table} table: it is not a gold file, or no MERGE has run on it");
            }
        }

        GoldSummary summary;
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = """
                SELECT count(*), count(DISTINCT ticker), min("hour"), max("hour")
                FROM financial_data_hour WHERE $ticker IS NULL OR ticker = $ticker
                """;
            cmd.Parameters.Add(new DuckDBParameter("ticker", ticker));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            await r.ReadAsync(cancellationToken);
            summary = new GoldSummary(r.GetInt64(0), r.GetInt64(1), r.IsDBNull(2) ? null : DuckDbUtc.Instant(r.GetDateTime(2)), r.IsDBNull(3) ? null : DuckDbUtc.Instant(r.GetDateTime(3)));
        }

        // The file is opened read-only: a table an earlier version created has no currency column until the next MERGE
        // adds it (001_gold_schema.sql), so it is read only where it exists.
        bool hasCurrency;
        await using (var column = conn.CreateCommand())
        {
            column.CommandText = "SELECT count(*) FROM information_schema.columns WHERE table_name = $table AND column_name = 'currency'";
            column.Parameters.Add(new DuckDBParameter("table", DuckDbGoldWarehouse.Table));
            hasCurrency = Convert.ToInt64(await column.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) > 0;
        }

        var rows = new List<GoldHour>();
        await using (var cmd = conn.CreateCommand())
        {
#pragma warning disable CA2100 // two constant statements, chosen by whether the column exists; every value is a parameter
            cmd.CommandText = hasCurrency ? NewestSelect + "currency" + NewestFrom : NewestSelect + "NULL::VARCHAR AS currency" + NewestFrom;
#pragma warning restore CA2100
            cmd.Parameters.Add(new DuckDBParameter("ticker", ticker));
            cmd.Parameters.Add(new DuckDBParameter("limit", limit));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                double? Nullable(int i) => r.IsDBNull(i) ? null : r.GetDouble(i);
                rows.Add(new GoldHour(
                    r.GetString(0), DuckDbUtc.Instant(r.GetDateTime(1)), r.GetDouble(2), r.GetDouble(3), r.GetDouble(4), r.GetDouble(5),
                    r.GetInt64(6), Nullable(7), r.GetInt64(8), Nullable(9), Nullable(10), r.GetString(11), DuckDbUtc.Instant(r.GetDateTime(12)),
                    r.IsDBNull(13) ? null : r.GetString(13)));
            }
        }

        return (summary, rows);
    }

    private const string NewestSelect = """
        SELECT ticker, "hour", open, high, low, close, volume, vwap, bar_count, return_pct, range_pct, execution_id, updated_at,
        """ + " ";

    private const string NewestFrom = """

        FROM financial_data_hour WHERE $ticker IS NULL OR ticker = $ticker
        ORDER BY "hour" DESC, ticker LIMIT $limit
        """;

    private static async Task<DuckDBConnection> OpenReadOnlyAsync(string databasePath, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + LockWait;
        while (true)
        {
            var conn = new DuckDBConnection($"Data Source={databasePath};ACCESS_MODE=READ_ONLY");
            try
            {
                await conn.OpenAsync(cancellationToken);
                return conn;
            }
            catch (DuckDBException ex) when (ex.Message.Contains("lock", StringComparison.OrdinalIgnoreCase))
            {
                await conn.DisposeAsync();
                if (time.GetUtcNow() >= deadline)
                {
                    throw new GoldUnavailableException(
                        $"{databasePath} is held by another process (DuckDB admits no reader while a writer has the file open): {ex.Message}", ex);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
            }
            catch
            {
                await conn.DisposeAsync();
                throw;
            }
        }
    }
}
