using DuckDB.NET.Data;
using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Warehouse;

/// <summary>One quarantined bar: what the provider sent, the rule it broke, why, and which execution set it aside.</summary>
public sealed record QuarantinedBar(
    DateTimeOffset BarTs, string Ticker, double Open, double High, double Low, double Close, long Volume,
    string Rule, string Reason, string RejectedBy, string Provider);

/// <summary>What <see cref="DuckDbQuarantineReader"/> found in one silver bucket.</summary>
/// <param name="ByRule">The rows shown, by rule (in the default view, by the rule of each bar's latest rejection).</param>
/// <param name="Newest">The newest rows shown, at most the limit.</param>
/// <param name="Copies">Every row kept (of the execution asked for): one per execution that set a bar aside.</param>
/// <param name="DistinctBars">How many distinct (ticker, bar_ts) those copies are.</param>
/// <param name="CurrentBars">
/// Bars in quarantine now (<c>financial_quotes_rejected_current</c>): distinct bars that silver does not hold from the
/// rejecting fetch or a later one. Null when one execution's rows were asked for: that is its audit trail, not the
/// quarantine as it stands.
/// </param>
public sealed record QuarantineRead(
    IReadOnlyList<(string Rule, long Rows)> ByRule, IReadOnlyList<QuarantinedBar> Newest, long Copies, long DistinctBars, long? CurrentBars);

/// <summary>
/// Reads a local silver bucket's quarantine for <c>fp quarantine</c>, through the views of
/// <c>sql/duckdb/010_silver_views.sql</c>, in an in-memory DuckDB: the gold file is not touched. By default it shows
/// <c>financial_quotes_rejected_current</c> (one row per bar still quarantined, its latest rejection); for every copy
/// kept, or one execution's rows, <c>financial_quotes_rejected</c>.
/// </summary>
public static class DuckDbQuarantineReader
{
    private const string SilverView = "financial_quotes_silver";
    private const string CurrentView = "financial_quotes_rejected_current";
    private const string CreateView = "CREATE OR REPLACE VIEW ";
    private static readonly string Script = EmbeddedSql.Read("duckdb.010_silver_views.sql");
    private static readonly string RejectedViewSql = ViewStatement(Script, ObjectLayout.RejectedDataset);
    private static readonly string SilverViewSql = ViewStatement(Script, SilverView);
    private static readonly string CurrentViewSql = ViewStatement(Script, CurrentView);

    /// <summary>
    /// Files written before bar_ts became TIMESTAMP(MILLIS) carry min/max statistics in the wrong unit (Parquet.Net
    /// writes a MICROS column's statistics in milliseconds, aloneguid/parquet-dotnet#769), so every such file's bar_ts
    /// reads as a January 1970 range. DuckDB's top-N turns <c>ORDER BY bar_ts DESC LIMIT n</c> into a filter on those
    /// statistics and skipped every file but the first one it scanned. Without top-N it sorts them all.
    /// </summary>
    private const string NoTopN = "SET disabled_optimizers = 'top_n'";

    /// <summary>
    /// Stands in for the silver view while the bucket holds no silver partition (every row so far was rejected):
    /// DuckDB cannot bind a view over an empty glob. Same columns as the quarantine without rule, reason, rejected_by.
    /// </summary>
    private const string EmptySilver =
        CreateView + SilverView + " AS SELECT * EXCLUDE (rule, reason, rejected_by) FROM financial_quotes_rejected WHERE false;";

    /// <summary>Null when the bucket holds no quarantine file (DuckDB cannot bind a view over an empty glob).</summary>
    /// <param name="silverBucketRoot">The bucket's directory, <c>{FP_DATA_DIR}/buckets/{silver_bucket}</c>.</param>
    /// <param name="rejectedBy">Only the rows this execution set aside (every one of them), or the whole quarantine.</param>
    /// <param name="allCopies">
    /// For the whole quarantine: every row kept, one per execution that set a bar aside, instead of one row per bar
    /// still quarantined. One execution's rows are always all of them.
    /// </param>
    public static async Task<QuarantineRead?> ReadAsync(
        string silverBucketRoot, Guid? rejectedBy, bool allCopies, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var dataset = Path.Combine(silverBucketRoot, ObjectLayout.RejectedDataset);
        if (!Directory.Exists(dataset) || !Directory.EnumerateFiles(dataset, "*.parquet", SearchOption.AllDirectories).Any())
        {
            return null;
        }

        var silver = Path.Combine(silverBucketRoot, ObjectLayout.Dataset);
        // What the silver view's glob (financial_quotes/*/*.parquet) matches: a bucket shared with bronze holds
        // bronze objects one level deeper, which it does not.
        var silverIsEmpty = !Directory.Exists(silver)
            || !Directory.EnumerateDirectories(silver).Any(d => Directory.EnumerateFiles(d, "*.parquet", SearchOption.TopDirectoryOnly).Any());
        await using var conn = new DuckDBConnection("Data Source=:memory:");
        await conn.OpenAsync(cancellationToken);
        await using (var setup = conn.CreateCommand())
        {
            // The path is a literal inside read_parquet (a view cannot take parameters): quotes are doubled, as the
            // script's header says; the path is ours (data directory + validated bucket name), not a message's.
            var views = string.Join("\n", RejectedViewSql, silverIsEmpty ? EmptySilver : SilverViewSql, CurrentViewSql)
                .Replace("{silver_root}", silverBucketRoot.Replace("'", "''", StringComparison.Ordinal), StringComparison.Ordinal);
#pragma warning disable CA2100 // see above: embedded SQL plus our own path, quoted
            setup.CommandText = DuckDbUtc.SessionSql + ";\n" + NoTopN + ";\n" + views;
#pragma warning restore CA2100
            await setup.ExecuteNonQueryAsync(cancellationToken);
        }

        // Which rows are shown: one execution's (all of them), every copy, or one per bar still quarantined.
        var shown = rejectedBy is not null || allCopies ? ObjectLayout.RejectedDataset : CurrentView;
        var byRule = new List<(string, long)>();
        await using (var cmd = conn.CreateCommand())
        {
#pragma warning disable CA2100 // the view name is one of two constants
            cmd.CommandText = $"""
                SELECT rule, count(*) FROM {shown}
                WHERE $rejected_by IS NULL OR rejected_by = $rejected_by
                GROUP BY rule ORDER BY count(*) DESC, rule
                """;
#pragma warning restore CA2100
            cmd.Parameters.Add(new DuckDBParameter("rejected_by", rejectedBy?.ToString("D")));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                byRule.Add((r.GetString(0), r.GetInt64(1)));
            }
        }

        long copies, distinct;
        long? current;
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = """
                SELECT count(*), count(DISTINCT (ticker, bar_ts)),
                       CASE WHEN $rejected_by IS NULL THEN (SELECT count(*) FROM financial_quotes_rejected_current) END
                FROM financial_quotes_rejected
                WHERE $rejected_by IS NULL OR rejected_by = $rejected_by
                """;
            cmd.Parameters.Add(new DuckDBParameter("rejected_by", rejectedBy?.ToString("D")));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            await r.ReadAsync(cancellationToken);
            (copies, distinct, current) = (r.GetInt64(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetInt64(2));
        }

        var rows = new List<QuarantinedBar>();
        await using (var cmd = conn.CreateCommand())
        {
#pragma warning disable CA2100 // the view name is one of two constants
            cmd.CommandText = $"""
                SELECT bar_ts, ticker, open, high, low, close, volume, rule, reason, rejected_by, provider
                FROM {shown}
                WHERE $rejected_by IS NULL OR rejected_by = $rejected_by
                ORDER BY bar_ts DESC, ticker, rule, rejected_by LIMIT $limit
                """;
#pragma warning restore CA2100
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

        return new QuarantineRead(byRule, rows, copies, distinct, current);
    }

    /// <summary>The one <c>CREATE OR REPLACE VIEW</c> statement of <paramref name="script"/> that defines <paramref name="view"/>.</summary>
    private static string ViewStatement(string script, string view)
    {
        var start = script.IndexOf(CreateView + view + " AS", StringComparison.Ordinal);
        var end = start < 0 ? -1 : script.IndexOf(';', start);
        return start >= 0 && end > start
            ? script[start..(end + 1)]
            : throw new InvalidOperationException($"embedded duckdb.010_silver_views.sql defines no view {view}");
    }
}
