using System.Reflection;
using DuckDB.NET.Data;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Core.Warehouse;

namespace FinancialPipeline.Warehouse;

public sealed record DuckDbOptions
{
    /// <summary>The DuckDB database file (created on first use).</summary>
    public required string DatabasePath { get; init; }

    /// <summary>Directory holding the buckets (the local object store's root): silver is <c>{root}/{silver-bucket}</c>.</summary>
    public required string BucketsRoot { get; init; }
}

/// <summary>
/// Gold in a DuckDB file reading the silver Parquet partitions directly. One writer at a time per file:
/// DuckDB allows a single read-write process, so MERGEs from concurrent requests are serialised here.
/// </summary>
public sealed class DuckDbGoldWarehouse(DuckDbOptions options, TimeProvider time) : IGoldWarehouse
{
    public const string Table = "financial_data_hour";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly string SchemaSql = ReadSql("duckdb.001_gold_schema.sql");
    private static readonly string MergeSql = ReadSql("duckdb.002_gold_merge.sql");

    public async Task<GoldMergeResult> MergeHoursAsync(Guid executionId, int attempt, string silverBucket, IReadOnlyCollection<DateOnly> touchedDates, CancellationToken cancellationToken)
    {
        string SilverFile(DateOnly date) =>
            Path.Combine(options.BucketsRoot, silverBucket, ObjectLayout.SilverObject(date).Replace('/', Path.DirectorySeparatorChar));

        if (touchedDates.Count == 0)
        {
            return new GoldMergeResult(0, 0, null, Table);
        }

        // Source dates: the touched ones, the day after each (its first hour's return_pct depends on the
        // touched day's last close) and a week before (the previous close may lie across a weekend).
        var recompute = touchedDates.SelectMany(d => new[] { d, d.AddDays(1) }).Distinct().Where(d => File.Exists(SilverFile(d))).Order().ToList();
        if (recompute.Count == 0)
        {
            return new GoldMergeResult(0, 0, null, Table);
        }

        var files = Enumerable.Range(0, recompute[^1].DayNumber - recompute[0].DayNumber + 8)
            .Select(i => recompute[0].AddDays(i - 7))
            .Select(SilverFile)
            .Where(File.Exists)
            .ToList();

        await Gate.WaitAsync(cancellationToken);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.DatabasePath))!);
            await using var conn = new DuckDBConnection($"Data Source={options.DatabasePath}");
            await conn.OpenAsync(cancellationToken);
            await ExecuteAsync(conn, "SET TimeZone = 'UTC'", cancellationToken);
            await ExecuteAsync(conn, SchemaSql, cancellationToken);
            await using var tx = await conn.BeginTransactionAsync(cancellationToken);
            long affected;
            await using (var merge = conn.CreateCommand())
            {
                merge.Transaction = (DuckDBTransaction)tx;
                merge.CommandText = MergeSql.Replace("{silver_files}", FileList(files), StringComparison.Ordinal);
                merge.Parameters.Add(new DuckDBParameter("dates", recompute.Select(d => d.ToDateTime(TimeOnly.MinValue)).ToList()));
                merge.Parameters.Add(new DuckDBParameter("execution_id", executionId.ToString("D")));
                merge.Parameters.Add(new DuckDBParameter("updated_at", time.GetUtcNow().UtcDateTime));
                affected = await merge.ExecuteNonQueryAsync(cancellationToken);
            }

            await tx.CommitAsync(cancellationToken);
            var (hours, newest) = await ScopeAsync(conn, recompute, cancellationToken);
            return new GoldMergeResult(affected, hours, newest, Table);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<(long Hours, DateTimeOffset? Newest)> ScopeAsync(DuckDBConnection conn, IReadOnlyList<DateOnly> dates, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"""SELECT count(*), max("hour") FROM {Table} WHERE CAST("hour" AS DATE) IN (SELECT unnest($dates::DATE[]))""";
        cmd.Parameters.Add(new DuckDBParameter("dates", dates.Select(d => d.ToDateTime(TimeOnly.MinValue)).ToList()));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var count = r.GetInt64(0);
        DateTimeOffset? newest = r.IsDBNull(1) ? null : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(1), DateTimeKind.Utc));
        return (count, newest);
    }

    /// <summary>A DuckDB list literal of file paths we built ourselves; quotes are escaped all the same.</summary>
    private static string FileList(IEnumerable<string> files) =>
        "[" + string.Join(", ", files.Select(f => "'" + f.Replace("'", "''", StringComparison.Ordinal) + "'")) + "]";

    private static async Task ExecuteAsync(DuckDBConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static string ReadSql(string resource)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded SQL {resource} missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
