using System.Collections.Concurrent;
using System.Text.RegularExpressions;
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
/// Gold in a DuckDB file reading the silver Parquet partitions directly. DuckDB allows a single read-write
/// process per file, so MERGEs into one file are serialised here; the table DDL runs once per process and file.
/// </summary>
public sealed partial class DuckDbGoldWarehouse(DuckDbOptions options, TimeProvider time) : IGoldWarehouse
{
    public const string Table = "financial_data_hour";
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, bool> SchemaApplied = new(StringComparer.Ordinal);
    private static readonly string SchemaSql = EmbeddedSql.Read("duckdb.001_gold_schema.sql");
    private static readonly string MergeSql = EmbeddedSql.Read("duckdb.002_gold_merge.sql");
    private static readonly string FreshnessSql = EmbeddedSql.Read("duckdb.003_gold_freshness.sql");
    private static readonly string DeleteVanishedSql = EmbeddedSql.Read("duckdb.004_gold_delete_vanished.sql");

    public async Task<GoldMergeResult> MergeHoursAsync(Guid executionId, int attempt, string silverBucket, IReadOnlyCollection<string> tickers, IReadOnlyCollection<DateOnly> touchedDates, CancellationToken cancellationToken)
    {
        if (executionId == Guid.Empty)
        {
            throw new ArgumentException("execution id must not be empty", nameof(executionId));
        }

        ArgumentNullException.ThrowIfNull(tickers);

        var silverRoot = SilverRoot(silverBucket);
        var scope = GoldScope.For(touchedDates);
        var databasePath = Path.GetFullPath(options.DatabasePath);
        if (scope is null && !File.Exists(databasePath))
        {
            // Nothing touched and no gold yet: there is no newest hour, and no reason to create the file.
            return new GoldMergeResult(0, 0, null, Table);
        }

        var gate = Gates.GetOrAdd(databasePath, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(databasePath)!);
            await using var conn = new DuckDBConnection($"Data Source={databasePath}");
            await conn.OpenAsync(cancellationToken);
            await DuckDbUtc.SetSessionAsync(conn, cancellationToken);
            if (!SchemaApplied.ContainsKey(databasePath))
            {
                await ExecuteAsync(conn, SchemaSql, cancellationToken);
                SchemaApplied[databasePath] = true;
            }

            long affected = 0;
            if (scope is not null)
            {
                string Partition(DateOnly date) => Path.Combine(silverRoot, ObjectLayout.SilverPartitionPrefix(date).Replace('/', Path.DirectorySeparatorChar));
                scope.RequireSilverPartitions(d => Directory.Exists(Partition(d)) && Directory.EnumerateFiles(Partition(d), "*.parquet").Any(), silverBucket, Partition);

                // Silver files are listed here, not globbed by DuckDB: a partition may hold several part files
                // or none, and the list travels as a bound parameter, never spliced into the SQL.
                var files = scope.ReadDates
                    .Select(Partition)
                    .Where(Directory.Exists)
                    .SelectMany(dir => Directory.EnumerateFiles(dir, "*.parquet").Order(StringComparer.Ordinal))
                    .ToList();
                affected = await MergeAsync(conn, scope, files, tickers, executionId, cancellationToken);
            }

            // Also when nothing was touched: the table's newest hour is the freshness mark of every run.
            var (hours, newest) = await FreshnessAsync(conn, scope, tickers, cancellationToken);
            return new GoldMergeResult(affected, hours, newest, Table);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<long> MergeAsync(DuckDBConnection conn, GoldScope scope, List<string> files, IReadOnlyCollection<string> tickers, Guid executionId, CancellationToken ct)
    {
        await using var tx = (DuckDBTransaction)await conn.BeginTransactionAsync(ct);
        long affected;
        await using (var merge = Statement(conn, tx, MergeSql,
            ("files", files), ("tickers", tickers.ToList()), ("touched", Dates(scope.Touched)), ("target_dates", Dates(scope.TargetDates)),
            ("target_from", Midnight(scope.TargetDates[0])), ("target_until", Midnight(scope.TargetDates[^1].AddDays(1))),
            ("execution_id", executionId.ToString("D")), ("updated_at", time.GetUtcNow().UtcDateTime)))
        {
            affected = await merge.ExecuteNonQueryAsync(ct);
        }

        await using (var delete = Statement(conn, tx, DeleteVanishedSql,
            ("files", files), ("tickers", tickers.ToList()), ("touched", Dates(scope.Touched)),
            ("touched_from", Midnight(scope.Touched[0])), ("touched_until", Midnight(scope.Touched[^1].AddDays(1)))))
        {
            affected += await delete.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return affected;
    }

    /// <summary>Gold hours of the touched dates (none when <paramref name="scope"/> is null) and the table's newest hour.</summary>
    private static async Task<(long Hours, DateTimeOffset? Newest)> FreshnessAsync(DuckDBConnection conn, GoldScope? scope, IReadOnlyCollection<string> tickers, CancellationToken ct)
    {
        var from = GoldScope.NewestFrom(scope);
        await using var cmd = Statement(conn, null, FreshnessSql,
            ("tickers", tickers.ToList()), ("touched", Dates(scope?.Touched ?? [])),
            ("touched_from", Midnight(from)), ("touched_until", Midnight(scope?.Touched[^1].AddDays(1) ?? from)), ("newest_from", Midnight(from)));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var count = r.GetInt64(0);
        DateTimeOffset? newest = r.IsDBNull(1) ? null : DuckDbUtc.Instant(r.GetDateTime(1));
        return (count, newest);
    }

    /// <summary>One of the embedded sql/duckdb scripts with its named parameters; every value is a parameter.</summary>
    private static DuckDBCommand Statement(DuckDBConnection conn, DuckDBTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
#pragma warning disable CA2100 // embedded sql/duckdb script; every value is a parameter
        cmd.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.Add(new DuckDBParameter(name, value));
        }

        return cmd;
    }

    /// <summary>
    /// Midnight UTC of <paramref name="date"/>, bound as a TIMESTAMP and cast to TIMESTAMPTZ in the SQL (the session's
    /// time zone is UTC).
    /// </summary>
    private static DateTime Midnight(DateOnly date) => date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);

    /// <summary>The silver bucket's directory; the name must be a GCS bucket name, so it cannot leave the buckets root.</summary>
    private string SilverRoot(string silverBucket)
    {
        if (string.IsNullOrEmpty(silverBucket) || !BucketPattern().IsMatch(silverBucket) || silverBucket.Contains("..", StringComparison.Ordinal))
        {
            throw new ArgumentException($"silver bucket '{silverBucket}' is not a valid bucket name (3-63 of a-z 0-9 - _ ., alphanumeric at both ends)", nameof(silverBucket));
        }

        return Path.Combine(Path.GetFullPath(options.BucketsRoot), silverBucket, string.Empty);
    }

    private static List<DateTime> Dates(IEnumerable<DateOnly> dates) => dates.Select(d => d.ToDateTime(TimeOnly.MinValue)).ToList();

    private static async Task ExecuteAsync(DuckDBConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
#pragma warning disable CA2100 // the only caller passes the embedded sql/duckdb schema script
        cmd.CommandText = sql;
#pragma warning restore CA2100
        await cmd.ExecuteNonQueryAsync(ct);
    }

    [GeneratedRegex(@"^[a-z0-9][a-z0-9_.\-]{1,61}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex BucketPattern();
}
