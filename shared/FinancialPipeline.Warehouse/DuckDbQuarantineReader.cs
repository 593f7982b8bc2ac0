using DuckDB.NET.Data;
using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Warehouse;

/// <summary>One quarantined bar: what the provider sent, the rule it broke, why, and which execution set it aside.</summary>
public sealed record QuarantinedBar(
    DateTimeOffset BarTs, string Ticker, double Open, double High, double Low, double Close, long Volume,
    string Rule, string Reason, string RejectedBy, string Provider);

/// <summary>
/// Reads a local silver bucket's quarantine (<c>financial_quotes_rejected</c>) for <c>fp quarantine</c>, through the
/// same view definition as <c>sql/duckdb/010_silver_views.sql</c>, in an in-memory DuckDB: the gold file is not touched.
/// </summary>
public static class DuckDbQuarantineReader
{
    private static readonly string RejectedView = ViewStatement(EmbeddedSql.Read("duckdb.010_silver_views.sql"), ObjectLayout.RejectedDataset);

    /// <summary>
    /// Files written before bar_ts became TIMESTAMP(MILLIS) carry min/max statistics in the wrong unit (Parquet.Net
    /// writes a MICROS column's statistics in milliseconds, aloneguid/parquet-dotnet#769), so every such file's bar_ts
    /// reads as a January 1970 range. DuckDB's top-N turns <c>ORDER BY bar_ts DESC LIMIT n</c> into a filter on those
    /// statistics and skipped every file but the first one it scanned. Without top-N it sorts them all.
    /// </summary>
    private const string NoTopN = "SET disabled_optimizers = 'top_n'";

    /// <summary>Null when the bucket holds no quarantine file (DuckDB cannot bind a view over an empty glob).</summary>
    /// <param name="silverBucketRoot">The bucket's directory, <c>{FP_DATA_DIR}/buckets/{silver_bucket}</c>.</param>
    /// <param name="rejectedBy">Only the rows this execution set aside, or all.</param>
    /// <returns>
    /// The rows by rule, the newest <paramref name="limit"/> rows, and how many distinct (ticker, bar, rule) they are:
    /// the quarantine is kept per execution, so a bad bar that overlapping windows or a backfill fetched again is set
    /// aside once by each.
    /// </returns>
    public static async Task<(IReadOnlyList<(string Rule, long Rows)> ByRule, IReadOnlyList<QuarantinedBar> Newest, long DistinctBars)?> ReadAsync(
        string silverBucketRoot, Guid? rejectedBy, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var dataset = Path.Combine(silverBucketRoot, ObjectLayout.RejectedDataset);
        if (!Directory.Exists(dataset) || !Directory.EnumerateFiles(dataset, "*.parquet", SearchOption.AllDirectories).Any())
        {
            return null;
        }

        await using var conn = new DuckDBConnection("Data Source=:memory:");
        await conn.OpenAsync(cancellationToken);
        await using (var setup = conn.CreateCommand())
        {
            // The path is a literal inside read_parquet (a view cannot take parameters): quotes are doubled, as the
            // script's header says; the path is ours (data directory + validated bucket name), not a message's.
#pragma warning disable CA2100 // see above: embedded SQL plus our own path, quoted
            setup.CommandText = DuckDbUtc.SessionSql + ";\n" + NoTopN + ";\n" + RejectedView.Replace("{silver_root}", silverBucketRoot.Replace("'", "''", StringComparison.Ordinal), StringComparison.Ordinal);
#pragma warning restore CA2100
            await setup.ExecuteNonQueryAsync(cancellationToken);
        }

        var byRule = new List<(string, long)>();
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = """
                SELECT rule, count(*) FROM financial_quotes_rejected
                WHERE $rejected_by IS NULL OR rejected_by = $rejected_by
                GROUP BY rule ORDER BY count(*) DESC, rule
                """;
            cmd.Parameters.Add(new DuckDBParameter("rejected_by", rejectedBy?.ToString("D")));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                byRule.Add((r.GetString(0), r.GetInt64(1)));
            }
        }

        long distinct;
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = """
                SELECT count(*) FROM (
                    SELECT DISTINCT ticker, bar_ts, rule FROM financial_quotes_rejected
                    WHERE $rejected_by IS NULL OR rejected_by = $rejected_by)
                """;
            cmd.Parameters.Add(new DuckDBParameter("rejected_by", rejectedBy?.ToString("D")));
            distinct = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        }

        var rows = new List<QuarantinedBar>();
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = """
                SELECT bar_ts, ticker, open, high, low, close, volume, rule, reason, rejected_by, provider
                FROM financial_quotes_rejected
                WHERE $rejected_by IS NULL OR rejected_by = $rejected_by
                ORDER BY bar_ts DESC, ticker, rule, rejected_by LIMIT $limit
                """;
            cmd.Parameters.Add(new DuckDBParameter("rejected_by", rejectedBy?.ToString("D")));
            cmd.Parameters.Add(new DuckDBParameter("limit", limit));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                // A quarantined row is one that broke a rule: read every value leniently, it may be the broken one.
                double Price(int i) => r.IsDBNull(i) ? double.NaN : r.GetDouble(i);
                string Text(int i) => r.IsDBNull(i) ? string.Empty : r.GetString(i);
                rows.Add(new QuarantinedBar(
                    DuckDbUtc.Instant(r.GetDateTime(0)), Text(1), Price(2), Price(3),
                    Price(4), Price(5), r.IsDBNull(6) ? 0 : r.GetInt64(6), Text(7), Text(8), Text(9), Text(10)));
            }
        }

        return (byRule, rows, distinct);
    }

    /// <summary>The one <c>CREATE OR REPLACE VIEW</c> statement of <paramref name="script"/> that defines <paramref name="view"/>.</summary>
    private static string ViewStatement(string script, string view)
    {
        const string create = "CREATE OR REPLACE VIEW ";
        var start = script.IndexOf(create + view + " AS", StringComparison.Ordinal);
        var end = start < 0 ? -1 : script.IndexOf(';', start);
        return start >= 0 && end > start
            ? script[start..(end + 1)]
            : throw new InvalidOperationException($"embedded duckdb.010_silver_views.sql defines no view {view}");
    }
}
