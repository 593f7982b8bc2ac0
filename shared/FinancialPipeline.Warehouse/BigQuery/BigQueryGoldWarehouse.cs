using System.Globalization;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Core.Warehouse;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>Where the gold table and the silver external table live in BigQuery.</summary>
public sealed record BigQueryGoldOptions
{
    /// <summary>Project holding the dataset (usually the one that runs the jobs).</summary>
    public required string ProjectId { get; init; }

    /// <summary>Dataset holding <c>financial_data_hour</c> and the silver external table <c>financial_quotes_silver</c>.</summary>
    public required string Dataset { get; init; }

    /// <summary>
    /// The bucket the external table <c>financial_quotes_silver</c> reads (bound into its URIs at deployment): gold merges
    /// only jobs whose <c>silver_bucket_name</c> it is, and checks the touched dates' partitions in it.
    /// </summary>
    public required string SilverBucket { get; init; }

    /// <summary>
    /// Once per process before the first MERGE, read the table's schema (tables.get) and run
    /// <c>sql/bigquery/gold_financial_data_hour.sql</c> (CREATE TABLE IF NOT EXISTS) when there is no table, or
    /// <c>gold_financial_data_hour_add_currency.sql</c> (ALTER TABLE … ADD COLUMN) when it lacks <c>currency</c>.
    /// </summary>
    public bool EnsureTable { get; init; } = true;

    /// <summary>Every problem with these options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!BigQueryNames.IsValidProjectId(ProjectId))
        {
            errors.Add($"{nameof(ProjectId)} '{ProjectId}' is not a BigQuery project id (6-30 chars: lowercase letters, digits, hyphens; starts with a letter)");
        }

        if (!BigQueryNames.IsValidDatasetOrTableId(Dataset))
        {
            errors.Add($"{nameof(Dataset)} '{Dataset}' must be 1-{BigQueryNames.MaxDatasetOrTableLength} letters, digits or underscores");
        }

        if (BucketNames.Problem(SilverBucket) is { } problem)
        {
            errors.Add($"{nameof(SilverBucket)} '{SilverBucket}' {problem}");
        }

        return errors;
    }
}

/// <summary>
/// Gold in BigQuery: one MERGE job per stage attempt (<c>sql/bigquery/gold_merge.sql</c>) reading silver through the
/// external table, then one small query for the freshness mark (that query alone when silver touched nothing). The
/// MERGE deletes the job's gold hours of a touched date that silver no longer holds, so before it the touched dates'
/// partitions are listed in the external table's bucket (no BigQuery bytes): a job writing silver elsewhere, or a
/// touched date without a partition there, fails the run instead of deleting that date's hours. Job
/// ids are deterministic per (execution, stage, attempt, purpose), so a <c>jobs.insert</c> retried after a lost answer adopts the job it created (409) instead of
/// MERGing twice; a new attempt has a new id, and its MERGE computes the same rows as any older one still running.
/// </summary>
public sealed partial class BigQueryGoldWarehouse : IGoldWarehouse
{
    public const string TableId = "financial_data_hour";
    public const string SilverTableId = "financial_quotes_silver";
    private const string Stage = "gold";

    /// <summary>
    /// Gold partitions one MERGE job may change: BigQuery allows a job to modify at most 4,000 partitions; a wider scope
    /// (a daily-bar backfill of decades) is split, with a margin.
    /// </summary>
    public const int MaxPartitionsPerMerge = 3_500;
    /// <summary>Added after the first release; a table created before lacks it.</summary>
    public const string CurrencyColumn = "currency";
    private static readonly string TableSql = EmbeddedSql.Read("bigquery.gold_financial_data_hour.sql");
    private static readonly string AddCurrencySql = EmbeddedSql.Read("bigquery.gold_financial_data_hour_add_currency.sql");
    private static readonly string MergeSql = EmbeddedSql.Read("bigquery.gold_merge.sql");
    private static readonly string FreshnessSql = EmbeddedSql.Read("bigquery.gold_freshness.sql");

    private readonly IBigQueryJobClient _client;
    private readonly IObjectStore _silver;
    private readonly BigQueryGoldOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<BigQueryGoldWarehouse> _logger;
    private readonly SemaphoreSlim _tableGate = new(1, 1);
    private bool _tableEnsured;

    /// <param name="silver">The object store holding <see cref="BigQueryGoldOptions.SilverBucket"/> (GCS).</param>
    public BigQueryGoldWarehouse(IBigQueryJobClient client, IObjectStore silver, BigQueryGoldOptions options, TimeProvider time, ILogger<BigQueryGoldWarehouse> logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(silver);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid BigQueryGoldOptions: " + string.Join("; ", errors), nameof(options));
        }

        _client = client;
        _silver = silver;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary><c>project.dataset.financial_data_hour</c>.</summary>
    public string TableName => $"{_options.ProjectId}.{_options.Dataset}.{TableId}";

    public async Task<GoldMergeResult> MergeHoursAsync(Guid executionId, int attempt, string silverBucket, IReadOnlyCollection<string> tickers, IReadOnlyCollection<DateOnly> touchedDates, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tickers);
        // The external table's URIs are bound to one bucket at deployment; the job's is per job. Another bucket's silver
        // is invisible to the MERGE, which would delete the job's hours of every touched date. Not a rejection: the job
        // row decides it, and a fixed row (with fp replay --stage silver when silver wrote elsewhere) cures it, so the
        // run fails, is retried and dead-lettered.
        if (!string.Equals(silverBucket, _options.SilverBucket, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"silver_bucket_name: the job's silver bucket is {silverBucket}, but the external table {SilverTableId} reads bucket {_options.SilverBucket} (FP_BQ_SILVER_BUCKET); gold merges nothing rather than deleting the touched dates' hours");
        }

        var scope = GoldScope.For(touchedDates);
        if (scope is not null)
        {
            await RequireSilverPartitionsAsync(scope, cancellationToken);
        }

        await EnsureTableAsync(executionId, attempt, cancellationToken);

        // Nothing touched: no MERGE, but the freshness job still reports the table's newest hour. A scope wider than one
        // job may modify (a daily-bar backfill of decades) runs as several MERGE jobs, each with its own deterministic id.
        long affected = 0;
        long billed = 0;
        var parts = scope?.Split(MaxPartitionsPerMerge) ?? [];
        for (var i = 0; i < parts.Count; i++)
        {
            var part = parts[i];
            var merge = await _client.ExecuteQueryAsync(
                Render(MergeSql),
                [
                    BigQueryParameter.Date("read_from", part.ReadFrom),
                    BigQueryParameter.Date("read_to", part.ReadTo),
                    BigQueryParameter.StringArray("tickers", tickers),
                    BigQueryParameter.DateArray("touched_dates", part.Touched),
                    BigQueryParameter.DateArray("target_dates", part.TargetDates),
                    BigQueryParameter.String("execution_id", executionId.ToString("D")),
                    BigQueryParameter.Timestamp("updated_at", _time.GetUtcNow()),
                ],
                BigQueryJobIds.For(executionId, Stage, attempt, parts.Count == 1 ? "merge" : string.Create(CultureInfo.InvariantCulture, $"merge_p{i}")),
                cancellationToken);
            LogMerged(executionId, Stage, merge.JobId, merge.NumDmlAffectedRows, merge.TotalBytesBilled, part.Touched.Count, part.TargetDates.Count);
            affected += merge.NumDmlAffectedRows ?? 0;
            billed += merge.TotalBytesBilled ?? 0;
        }

        var freshness = await _client.ExecuteQueryAsync(
            Render(FreshnessSql),
            [
                BigQueryParameter.StringArray("tickers", tickers),
                BigQueryParameter.DateArray("touched_dates", scope?.Touched ?? []),
                BigQueryParameter.Date("newest_from", GoldScope.NewestFrom(scope)),
            ],
            BigQueryJobIds.For(executionId, Stage, attempt, "freshness"),
            cancellationToken);
        var rows = await _client.ReadRowsAsync(freshness, 1, cancellationToken);
        var (hours, newest) = ParseFreshness(rows, freshness.JobId);
        billed += freshness.TotalBytesBilled ?? 0;
        return new GoldMergeResult(affected, hours, newest, TableName, billed);
    }

    /// <summary>
    /// Lists the touched dates' partitions in the external table's bucket (one listing per date, or per month for many)
    /// and fails on the first touched date without a part file; see <see cref="GoldScope.RequireSilverPartitions"/>.
    /// </summary>
    private async Task RequireSilverPartitionsAsync(GoldScope scope, CancellationToken ct)
    {
        var bucket = _options.SilverBucket;
        var present = new HashSet<DateOnly>();
        var partFiles = new ListObjectsOptions { MatchGlob = ObjectLayout.SilverPartFileGlob };
        foreach (var prefix in ObjectLayout.SilverPartitionListings(scope.Touched))
        {
            await foreach (var part in _silver.ListObjectsAsync(bucket, prefix, partFiles, ct))
            {
                if (ObjectLayout.TryParseSilverDate(part.Name, out var date))
                {
                    present.Add(date);
                }
            }
        }

        scope.RequireSilverPartitions(present.Contains, bucket, d => _silver.UriOf(bucket, ObjectLayout.SilverPartitionPrefix(d).TrimEnd('/')));
    }

    /// <summary>
    /// Creates or migrates the table at most once per process, and changes its metadata only when it must: a schema
    /// change is a table metadata update, which BigQuery rate-limits per table (even a no-op ADD COLUMN IF NOT EXISTS
    /// may count), and every Aggregate instance comes here at its first MERGE. tables.get is a read. A table created
    /// here has every column (the CREATE lists them), so it needs no ALTER. A DDL job that fails on rateLimitExceeded is
    /// re-run by the client and, when that runs out, fails the attempt as transient; the next one reads the schema again.
    /// </summary>
    private async Task EnsureTableAsync(Guid executionId, int attempt, CancellationToken ct)
    {
        if (!_options.EnsureTable || Volatile.Read(ref _tableEnsured))
        {
            return;
        }

        await _tableGate.WaitAsync(ct);
        try
        {
            if (!_tableEnsured)
            {
                var table = await _client.GetTableAsync(_options.Dataset, TableId, ct);
                if (table is null)
                {
                    var created = await _client.ExecuteQueryAsync(Render(TableSql), [], BigQueryJobIds.For(executionId, Stage, attempt, "ddl"), ct);
                    LogTableCreated(executionId, Stage, created.JobId, TableName);
                }
                else if (!table.HasColumn(CurrencyColumn))
                {
                    var altered = await _client.ExecuteQueryAsync(Render(AddCurrencySql), [], BigQueryJobIds.For(executionId, Stage, attempt, "add_currency"), ct);
                    LogColumnAdded(executionId, Stage, altered.JobId, TableName, CurrencyColumn);
                }

                Volatile.Write(ref _tableEnsured, true);
            }
        }
        finally
        {
            _tableGate.Release();
        }
    }

    /// <summary>Splices the validated project and dataset ids into a SQL file; every value is a query parameter.</summary>
    private string Render(string sql) =>
        sql.Replace("${project}", _options.ProjectId, StringComparison.Ordinal)
           .Replace("${dataset}", _options.Dataset, StringComparison.Ordinal);

    private static (long Hours, DateTimeOffset? Newest) ParseFreshness(IReadOnlyList<IReadOnlyList<string?>> rows, string jobId)
    {
        if (rows is not [{ Count: 2 } row])
        {
            throw new BigQueryJobException($"BigQuery job {jobId}: the freshness query returned {rows.Count} rows, expected one row of (hours_in_scope, newest_hour)");
        }

        if (!long.TryParse(row[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var hours))
        {
            throw new BigQueryJobException($"BigQuery job {jobId}: hours_in_scope '{row[0]}' is not an INT64");
        }

        if (row[1] is null)
        {
            return (hours, null);
        }

        if (!long.TryParse(row[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var micros))
        {
            throw new BigQueryJobException($"BigQuery job {jobId}: newest_hour '{row[1]}' is not a TIMESTAMP in microseconds");
        }

        return (hours, DateTimeOffset.UnixEpoch.AddTicks(micros * 10));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Gold table {Table} was missing: created by job {JobId} for {ExecutionId} ({Stage})")]
    private partial void LogTableCreated(Guid executionId, string stage, string jobId, string table);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gold table {Table} had no column {Column}: added by job {JobId} for {ExecutionId} ({Stage})")]
    private partial void LogColumnAdded(Guid executionId, string stage, string jobId, string table, string column);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gold MERGE {JobId} for {ExecutionId} ({Stage}): {RowsAffected} rows changed, {BytesBilled} bytes billed, {TouchedDates} touched dates, {TargetPartitions} target partitions")]
    private partial void LogMerged(Guid executionId, string stage, string jobId, long? rowsAffected, long? bytesBilled, int touchedDates, int targetPartitions);
}
