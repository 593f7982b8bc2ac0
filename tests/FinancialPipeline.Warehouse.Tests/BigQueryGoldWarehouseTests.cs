using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FinancialPipeline.Warehouse.BigQuery;
using FinancialPipeline.Warehouse.Tests.Fakes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Warehouse.Tests;

/// <summary>The BigQuery gold warehouse against the in-process fake BigQuery: jobs, parameters, ids, answers.</summary>
public sealed partial class BigQueryGoldWarehouseTests : IAsyncLifetime, IDisposable
{
    private static readonly Guid Execution = Guid.Parse("0b9f3c2e-7a41-4d5e-9c1b-2f6a8e4d1c3b");
    private static readonly DateOnly Monday = new(2024, 3, 4);
    private static readonly string[] Tickers = ["AAPL", "MSFT"];
    private static readonly DateTimeOffset NewestHour = new(2024, 3, 5, 19, 0, 0, TimeSpan.Zero);

    private const string SilverBucket = "fp-silver";

    private static readonly string[] GoldColumns =
        ["ticker", "hour", "open", "high", "low", "close", "volume", "vwap", "bar_count", "return_pct", "range_pct", "execution_id", "updated_at", "currency"];

    /// <summary>How BigQuery fails a DDL job over the per-table metadata update limit.</summary>
    private static readonly JobScript TableUpdateRateLimited = JobScript.Failure(
        "rateLimitExceeded",
        "Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas");
    private readonly JumpingTimeProvider _time = new();
    private readonly RecordingSilverStore _silver = new RecordingSilverStore().WithPartitions(SilverBucket, Monday, Monday.AddDays(1));
    private readonly HttpClient _http = new();
    private FakeBigQueryServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeBigQueryServer.StartAsync();
        _server.ScriptFor = id => id.Contains("-freshness-", StringComparison.Ordinal)
            ? JobScript.Success(rows: 0) with { Rows = [["14", (NewestHour.ToUnixTimeMilliseconds() * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture)]] }
            : JobScript.Success(rows: 9, billed: 20_971_520);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose()
    {
        _http.Dispose();
        _silver.Dispose();
    }

    [Fact]
    public async Task Merge_runs_ddl_merge_and_freshness_jobs_with_deterministic_ids_in_the_configured_location()
    {
        var result = await Warehouse().MergeHoursAsync(Execution, 2, "fp-silver", Tickers, [Monday.AddDays(1), Monday, Monday], CancellationToken.None);

        Assert.Empty(_server.Violations);
        Assert.Equal(
            ["fp-gold-ddl-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a2", "fp-gold-merge-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a2", "fp-gold-freshness-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a2"],
            _server.RequestsOf("insert").Select(r => r.JobId));
        Assert.All(_server.RequestsOf("insert"), r => Assert.Equal("us-east4", r.Body!["jobReference"]!["location"]!.GetValue<string>()));
        var read = _server.RequestsOf("poll").Last();
        Assert.Equal("fp-gold-freshness-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a2", read.JobId);
        Assert.Equal("1", read.Query["maxResults"]);
        Assert.Equal("true", read.Query["formatOptions.useInt64Timestamp"]);
        Assert.Equal(new Core.Warehouse.GoldMergeResult(9, 14, NewestHour, "fp-test-project.gold_test.financial_data_hour", 20_971_520 + 10_485_760), result);
    }

    [Fact]
    public async Task A_scope_wider_than_one_job_may_modify_runs_as_several_merges_that_together_cover_it()
    {
        // A daily-bar backfill of 25 years: 9,131 touched dates, 9,138 target partitions; BigQuery lets one job modify
        // 4,000 partitions.
        var touched = Enumerable.Range(0, 9_131).Select(i => new DateOnly(2000, 1, 1).AddDays(i)).ToList();
        _silver.WithPartitions(SilverBucket, touched);

        var result = await Warehouse().MergeHoursAsync(Execution, 3, "fp-silver", Tickers, touched, CancellationToken.None);

        Assert.Empty(_server.Violations);
        // The touched partitions are checked with one listing per month (2000-01 … 2024-12), not one per date.
        Assert.Equal(300, _silver.Listings.Count);
        var merges = _server.RequestsOf("insert").Where(r => r.JobId!.Contains("-merge", StringComparison.Ordinal)).ToList();
        Assert.Equal(
            ["fp-gold-merge_p0-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a3", "fp-gold-merge_p1-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a3", "fp-gold-merge_p2-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a3"],
            merges.Select(r => r.JobId));
        var parts = merges.Select(r => r.Body!["configuration"]!["query"]!["queryParameters"]!.AsArray().ToDictionary(p => p!["name"]!.GetValue<string>(), p => p!)).ToList();
        Assert.All(parts, p => Assert.InRange(DateArray(p["target_dates"]).Count, 1, BigQueryGoldWarehouse.MaxPartitionsPerMerge));
        Assert.Equal(touched.Select(d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)), parts.SelectMany(p => DateArray(p["touched_dates"])));
        Assert.All(parts, p => Assert.Equal(DateOnly.Parse(DateArray(p["touched_dates"])[0], CultureInfo.InvariantCulture).AddDays(-7).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), Scalar(p["read_from"], "DATE")));
        Assert.Equal(3 * 9, result.RowsAffected); // the fake answers 9 affected rows per MERGE
    }

    [Fact]
    public async Task A_touched_date_without_a_silver_partition_in_the_tables_bucket_fails_before_any_job()
    {
        // Was: the MERGE read no source rows for 2024-03-06 and its NOT MATCHED BY SOURCE branch deleted the job's gold
        // hours of that date, reported as success. Neither another date's part file nor a non-Parquet object counts.
        _silver.With(SilverBucket, "financial_quotes/date=2024-03-06/_SUCCESS", "financial_quotes_rejected/date=2024-03-06/rejected-x.parquet");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday, Monday.AddDays(2), Monday.AddDays(1)], CancellationToken.None));

        Assert.Equal(
            $"touched date 2024-03-06 has no silver partition in bucket fp-silver ({_silver.UriOf(SilverBucket, "financial_quotes/date=2024-03-06")}): gold merges nothing rather than deleting that date's hours",
            error.Message);
        Assert.Empty(_server.RequestsOf("insert"));
        Assert.All(_silver.Listings, l => Assert.Equal((SilverBucket, "financial_quotes/date=*/*.parquet"), (l.Bucket, l.Glob)));
        Assert.Equal(["financial_quotes/date=2024-03-04/", "financial_quotes/date=2024-03-05/", "financial_quotes/date=2024-03-06/"], _silver.Listings.Select(l => l.Prefix));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_job_whose_silver_bucket_is_not_the_external_tables_fails_naming_the_field_and_both_buckets(bool touched)
    {
        // Was: silverBucket was ignored, so the MERGE read the deployment's bucket, found none of the job's rows and
        // deleted its gold hours of the touched dates. The other bucket holds the partitions: they are not what BigQuery reads.
        _silver.WithPartitions("fp-silver-eu", Monday);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            Warehouse().MergeHoursAsync(Execution, 1, "fp-silver-eu", Tickers, touched ? [Monday] : [], CancellationToken.None));

        Assert.Equal(
            "silver_bucket_name: the job's silver bucket is fp-silver-eu, but the external table financial_quotes_silver reads bucket fp-silver (FP_BQ_SILVER_BUCKET); gold merges nothing rather than deleting the touched dates' hours",
            error.Message);
        Assert.Empty(_server.Requests);
        Assert.Empty(_silver.Listings);
    }

    [Fact]
    public async Task Merge_sends_named_parameters_for_the_scope_and_splices_only_validated_names()
    {
        await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday, Monday.AddDays(1)], CancellationToken.None);

        var query = MergeRequest()["configuration"]!["query"]!;
        var sql = query["query"]!.GetValue<string>();
        Assert.StartsWith("-- Recomputes the gold hours", sql, StringComparison.Ordinal);
        Assert.DoesNotContain("${", sql, StringComparison.Ordinal);
        Assert.Contains("MERGE `fp-test-project.gold_test.financial_data_hour` AS t", sql, StringComparison.Ordinal);
        Assert.Contains("FROM `fp-test-project.gold_test.financial_quotes_silver`", sql, StringComparison.Ordinal);
        var parameters = query["queryParameters"]!.AsArray().ToDictionary(p => p!["name"]!.GetValue<string>(), p => p!);
        Assert.Equal(["read_from", "read_to", "tickers", "touched_dates", "target_dates", "execution_id", "updated_at"], parameters.Keys);
        Assert.Equal(Tickers, Array(parameters["tickers"], "STRING"));
        Assert.Equal("2024-02-26", Scalar(parameters["read_from"], "DATE"));
        Assert.Equal("2024-03-12", Scalar(parameters["read_to"], "DATE"));
        Assert.Equal(["2024-03-04", "2024-03-05"], DateArray(parameters["touched_dates"]));
        Assert.Equal(Enumerable.Range(4, 9).Select(d => $"2024-03-{d:D2}"), DateArray(parameters["target_dates"]));
        Assert.Equal(Execution.ToString("D"), Scalar(parameters["execution_id"], "STRING"));
        Assert.Equal("2024-01-02 14:30:00.000000+00:00", Scalar(parameters["updated_at"], "TIMESTAMP"));
    }

    [Fact]
    public void Merge_target_condition_names_the_partitions_by_parameter_so_BigQuery_prunes_them()
    {
        var sql = Read("gold_merge.sql");

        // The ON clause and the DELETE branch filter the target on its partitioning expression with constant
        // parameters; the source filters the external table on its hive partition key.
        Assert.Matches(OnClause(), sql);
        Assert.Contains("WHEN NOT MATCHED BY SOURCE AND DATE(t.`hour`) IN UNNEST(@touched_dates) AND t.ticker IN UNNEST(@tickers) THEN", sql, StringComparison.Ordinal);
        Assert.Contains("WHERE `date` BETWEEN @read_from AND @read_to AND ticker IN UNNEST(@tickers)", sql, StringComparison.Ordinal);
        Assert.Contains("QUALIFY ROW_NUMBER() OVER (PARTITION BY ticker, bar_ts", sql, StringComparison.Ordinal);
    }

    [Fact]
    public void Gold_table_ddl_is_partitioned_by_the_hours_date_and_clustered_by_ticker_with_the_duckdb_columns()
    {
        var bigQuery = Read("gold_financial_data_hour.sql");
        var duckDb = File.ReadAllText(Path.Combine(SqlRoot(), "duckdb", "001_gold_schema.sql"));

        Assert.Contains("CREATE TABLE IF NOT EXISTS `${project}.${dataset}.financial_data_hour`", bigQuery, StringComparison.Ordinal);
        Assert.Contains("\nPARTITION BY DATE(`hour`)\nCLUSTER BY ticker\n", bigQuery.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain("PARTITIONS", bigQuery, StringComparison.Ordinal);
        Assert.Equal(Columns(duckDb), Columns(bigQuery));
        Assert.Equal(
            GoldColumns,
            Columns(bigQuery));
    }

    [Fact]
    public void Currency_migration_is_a_statement_of_its_own_adding_the_create_statements_last_column()
    {
        var create = Read("gold_financial_data_hour.sql");
        var alter = Read("gold_financial_data_hour_add_currency.sql");

        Assert.DoesNotContain("ALTER TABLE", create, StringComparison.Ordinal);
        Assert.DoesNotContain("CREATE TABLE", alter, StringComparison.Ordinal);
        var added = Regex.Match(alter, @"^ALTER TABLE `\$\{project\}\.\$\{dataset\}\.financial_data_hour` ADD COLUMN IF NOT EXISTS currency (?<definition>STRING OPTIONS \(description = '[^']+'\));$", RegexOptions.Multiline);
        Assert.True(added.Success, "the ALTER adds currency to financial_data_hour");
        var listed = Regex.Match(create, @"^\s{4}currency\s+(?<type>STRING)\s+(?<options>OPTIONS \(description = '[^']+'\))$", RegexOptions.Multiline);
        Assert.True(listed.Success, "the CREATE lists currency");
        Assert.Equal(listed.Groups["type"].Value + " " + listed.Groups["options"].Value, added.Groups["definition"].Value);
        Assert.Equal("currency", Columns(create)[^1]);
    }

    [Fact]
    public async Task Ddl_runs_once_per_process_and_each_attempt_gets_its_own_merge_job()
    {
        var warehouse = Warehouse();

        await warehouse.MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);
        await warehouse.MergeHoursAsync(Execution, 2, "fp-silver", Tickers, [Monday], CancellationToken.None);

        var ids = _server.RequestsOf("insert").Select(r => r.JobId!).ToList();
        Assert.Single(ids, id => id.StartsWith("fp-gold-ddl-", StringComparison.Ordinal));
        Assert.Equal(
            ["fp-gold-merge-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a1", "fp-gold-merge-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a2"],
            ids.Where(id => id.StartsWith("fp-gold-merge-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_table_that_has_currency_gets_no_ddl_job_only_a_schema_read()
    {
        _server.SeedTable("gold_test", "financial_data_hour", [.. GoldColumns]);
        _server.TableFaults.Enqueue(new Fault(503));
        var warehouse = Warehouse();

        await warehouse.MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);
        await warehouse.MergeHoursAsync(Execution, 2, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Empty(_server.Violations);
        Assert.DoesNotContain(_server.RequestsOf("insert"), r => r.JobId!.StartsWith("fp-gold-ddl-", StringComparison.Ordinal) || r.JobId.StartsWith("fp-gold-add_currency-", StringComparison.Ordinal));
        Assert.All(_server.RequestsOf("insert"), r => Assert.DoesNotContain("ALTER TABLE", r.Body!["configuration"]!["query"]!["query"]!.GetValue<string>(), StringComparison.Ordinal));
        // Read once per process (the 503 retried), not per MERGE.
        Assert.Equal([503, 200], _server.RequestsOf("table").Select(r => r.ResponseStatus));
        Assert.All(_server.RequestsOf("table"), r => Assert.Equal("gold_test.financial_data_hour", r.JobId));
        Assert.Equal(GoldColumns, _server.ColumnsOf("gold_test", "financial_data_hour"));
    }

    [Fact]
    public async Task A_table_without_currency_gets_exactly_one_alter_job_and_no_create()
    {
        _server.SeedTable("gold_test", "financial_data_hour", [.. GoldColumns.SkipLast(1)]);
        var warehouse = Warehouse();

        await warehouse.MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);
        await warehouse.MergeHoursAsync(Execution, 2, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Empty(_server.Violations);
        var ddl = _server.RequestsOf("insert").Where(r => !r.JobId!.Contains("-merge-", StringComparison.Ordinal) && !r.JobId.Contains("-freshness-", StringComparison.Ordinal)).ToList();
        var alter = Assert.Single(ddl);
        Assert.Equal("fp-gold-add_currency-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a1", alter.JobId);
        Assert.Contains(
            "ALTER TABLE `fp-test-project.gold_test.financial_data_hour` ADD COLUMN IF NOT EXISTS currency STRING",
            alter.Body!["configuration"]!["query"]!["query"]!.GetValue<string>(),
            StringComparison.Ordinal);
        Assert.DoesNotContain("CREATE TABLE", alter.Body!["configuration"]!["query"]!["query"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Single(_server.RequestsOf("table"));
        Assert.Equal(GoldColumns, _server.ColumnsOf("gold_test", "financial_data_hour"));
    }

    [Fact]
    public async Task A_missing_table_is_created_with_currency_and_not_altered()
    {
        Assert.Null(_server.ColumnsOf("gold_test", "financial_data_hour"));

        await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Empty(_server.Violations);
        Assert.Equal([404], _server.RequestsOf("table").Select(r => r.ResponseStatus));
        var create = Assert.Single(_server.RequestsOf("insert"), r => r.JobId == "fp-gold-ddl-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a1");
        var sql = create.Body!["configuration"]!["query"]!["query"]!.GetValue<string>();
        Assert.Contains("CREATE TABLE IF NOT EXISTS `fp-test-project.gold_test.financial_data_hour`", sql, StringComparison.Ordinal);
        Assert.DoesNotContain("ALTER TABLE", sql, StringComparison.Ordinal);
        Assert.DoesNotContain(_server.RequestsOf("insert"), r => r.JobId!.Contains("add_currency", StringComparison.Ordinal));
        Assert.Equal(GoldColumns, _server.ColumnsOf("gold_test", "financial_data_hour"));

        // A second process finds the table the first created: no DDL job at all.
        var before = _server.RequestsOf("insert").Count;
        await Warehouse().MergeHoursAsync(Execution, 2, "fp-silver", Tickers, [Monday], CancellationToken.None);
        Assert.Equal(
            ["fp-gold-merge-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a2", "fp-gold-freshness-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a2"],
            _server.RequestsOf("insert").Skip(before).Select(r => r.JobId));
    }

    [Fact]
    public async Task A_rate_limited_alter_is_re_run_under_a_new_job_id()
    {
        _server.SeedTable("gold_test", "financial_data_hour", [.. GoldColumns.SkipLast(1)]);
        var alterId = BigQueryJobIds.For(Execution, "gold", 1, "add_currency");
        var inner = _server.ScriptFor;
        _server.ScriptFor = id => id == alterId ? TableUpdateRateLimited : inner(id);

        var result = await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Equal(9, result.RowsAffected);
        Assert.Equal([alterId, alterId + "-r1"], _server.RequestsOf("insert").Select(r => r.JobId!).Where(id => id.StartsWith(alterId, StringComparison.Ordinal)));
        Assert.Equal(GoldColumns, _server.ColumnsOf("gold_test", "financial_data_hour"));
    }

    [Fact]
    public async Task An_alter_still_rate_limited_after_the_retries_fails_the_attempt_as_transient_and_the_next_reads_the_schema_again()
    {
        _server.SeedTable("gold_test", "financial_data_hour", [.. GoldColumns.SkipLast(1)]);
        var inner = _server.ScriptFor;
        _server.ScriptFor = id => id.Contains("-add_currency-", StringComparison.Ordinal) ? TableUpdateRateLimited : inner(id);
        var warehouse = Warehouse();

        var error = await Assert.ThrowsAsync<BigQueryJobException>(() =>
            warehouse.MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None));

        Assert.Equal("rateLimitExceeded", error.Reason);
        Assert.False(error.IsPermanent);
        Assert.DoesNotContain(_server.RequestsOf("insert"), r => r.JobId!.Contains("-merge-", StringComparison.Ordinal));

        // The rate limit has passed by the redelivery: the same process reads the schema again and migrates.
        _server.ScriptFor = inner;
        var result = await warehouse.MergeHoursAsync(Execution, 2, "fp-silver", Tickers, [Monday], CancellationToken.None);
        Assert.Equal(9, result.RowsAffected);
        Assert.Equal(2, _server.RequestsOf("table").Count);
        Assert.Contains(_server.RequestsOf("insert"), r => r.JobId == BigQueryJobIds.For(Execution, "gold", 2, "add_currency"));
        Assert.Equal(GoldColumns, _server.ColumnsOf("gold_test", "financial_data_hour"));
    }

    [Fact]
    public async Task Redelivered_attempt_adopts_the_running_merge_job_instead_of_merging_twice()
    {
        var mergeId = BigQueryJobIds.For(Execution, "gold", 1, "merge");
        await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);
        var sql = MergeRequest()["configuration"]!["query"]!["query"]!.GetValue<string>();

        // A second host (same attempt, answer of the first lost) sends the same job id: 409, then jobs.get.
        var result = await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Equal(1, _server.SuccessfulInserts(mergeId));
        Assert.Contains(_server.Requests, r => r.Kind == "insert" && r.JobId == mergeId && r.ResponseStatus == 409);
        Assert.Contains(_server.Requests, r => r.Kind == "get" && r.JobId == mergeId);
        Assert.Equal(9, result.RowsAffected);
        Assert.Equal(sql, MergeRequest()["configuration"]!["query"]!["query"]!.GetValue<string>());
    }

    [Fact]
    public async Task Merge_not_complete_is_polled_until_done()
    {
        _server.ScriptFor = id => id.Contains("-freshness-", StringComparison.Ordinal)
            ? JobScript.Success() with { Rows = [["3", null]] }
            : JobScript.Success(rows: 4, pendingPolls: 2);

        var result = await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Equal(3, _server.RequestsOf("poll").Count(r => r.JobId!.Contains("-merge-", StringComparison.Ordinal)));
        Assert.Equal(4, result.RowsAffected);
        Assert.Equal(3, result.HoursInScope);
        Assert.Null(result.NewestHour);
    }

    [Fact]
    public async Task Concurrent_update_is_retried_under_a_new_job_id()
    {
        var mergeId = BigQueryJobIds.For(Execution, "gold", 1, "merge");
        var inner = _server.ScriptFor;
        _server.ScriptFor = id => id == mergeId
            ? JobScript.Failure("invalidQuery", "Could not serialize access to table fp-test-project:gold_test.financial_data_hour due to concurrent update")
            : inner(id);

        var result = await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Equal(9, result.RowsAffected);
        Assert.Contains(_server.RequestsOf("insert"), r => r.JobId == mergeId + "-r1");
    }

    [Fact]
    public async Task Rate_limit_and_5xx_on_insert_are_retried_with_the_same_job_id()
    {
        _server.InsertFaults.Enqueue(new Fault(429, Reason: "rateLimitExceeded"));
        _server.InsertFaults.Enqueue(new Fault(503, AfterApplying: true));

        var result = await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);

        Assert.Equal(9, result.RowsAffected);
        var ddl = BigQueryJobIds.For(Execution, "gold", 1, "ddl");
        Assert.Equal(1, _server.SuccessfulInserts(ddl));
        Assert.Equal(3, _server.RequestsOf("insert").Count(r => r.JobId == ddl));
    }

    [Fact]
    public async Task Invalid_query_fails_the_stage_with_BigQuerys_message()
    {
        const string message = "Unrecognized name: bar_ts at [20:23]";
        _server.ScriptFor = id => id.Contains("-merge-", StringComparison.Ordinal)
            ? JobScript.Failure("invalidQuery", message, "query")
            : JobScript.Success();

        var error = await Assert.ThrowsAsync<BigQueryJobException>(() =>
            Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None));

        Assert.Equal(message, error.Message);
        Assert.Equal("invalidQuery", error.Reason);
        Assert.True(error.IsPermanent);
        Assert.DoesNotContain(_server.RequestsOf("insert"), r => r.JobId!.Contains("-freshness-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Nothing_touched_on_an_empty_table_runs_no_merge_and_reports_no_newest_hour()
    {
        // What BigQuery answers for an empty table: no hour of the (empty) touched list, and MAX over no rows.
        _server.ScriptFor = id => id.Contains("-freshness-", StringComparison.Ordinal)
            ? JobScript.Success() with { Rows = [["0", null]] }
            : JobScript.Success(rows: 9, billed: 20_971_520);

        var result = await Warehouse().MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [], CancellationToken.None);

        Assert.Empty(_server.Violations);
        Assert.Equal(
            ["fp-gold-ddl-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a1", "fp-gold-freshness-0b9f3c2e7a414d5e9c1b2f6a8e4d1c3b-a1"],
            _server.RequestsOf("insert").Select(r => r.JobId));
        Assert.Equal(new Core.Warehouse.GoldMergeResult(0, 0, null, "fp-test-project.gold_test.financial_data_hour", 10_485_760), result);
    }

    [Fact]
    public async Task Nothing_touched_after_a_merge_runs_only_the_freshness_job_and_reports_the_tables_newest_hour()
    {
        var warehouse = Warehouse();
        await warehouse.MergeHoursAsync(Execution, 1, "fp-silver", Tickers, [Monday], CancellationToken.None);
        var idleRun = Guid.Parse("5d2e8f1a-3b4c-4e6d-8a9f-0c1b2d3e4f5a");
        var freshnessId = BigQueryJobIds.For(idleRun, "gold", 1, "freshness");
        _server.ScriptFor = id => id == freshnessId
            ? JobScript.Success(billed: 10_485_760) with { Rows = [["0", (NewestHour.ToUnixTimeMilliseconds() * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture)]] }
            : JobScript.Success(rows: 9, billed: 20_971_520);
        var before = _server.RequestsOf("insert").Count;

        var result = await warehouse.MergeHoursAsync(idleRun, 1, "fp-silver", Tickers, [], CancellationToken.None);

        Assert.Empty(_server.Violations);
        var insert = Assert.Single(_server.RequestsOf("insert").Skip(before));
        Assert.Equal(freshnessId, insert.JobId);
        var query = insert.Body!["configuration"]!["query"]!;
        Assert.StartsWith("-- After a MERGE (or alone, when silver touched nothing)", query["query"]!.GetValue<string>(), StringComparison.Ordinal);
        var parameters = query["queryParameters"]!.AsArray().ToDictionary(p => p!["name"]!.GetValue<string>(), p => p!);
        Assert.Equal(["tickers", "touched_dates", "newest_from"], parameters.Keys);
        Assert.Equal(Tickers, Array(parameters["tickers"], "STRING"));
        Assert.Empty(DateArray(parameters["touched_dates"]));
        Assert.Equal("0001-01-01", Scalar(parameters["newest_from"], "DATE"));
        Assert.Equal(new Core.Warehouse.GoldMergeResult(0, 0, NewestHour, "fp-test-project.gold_test.financial_data_hour", 10_485_760), result);
    }

    [Theory]
    [InlineData("fp-test-project", "gold-test", "fp-silver", "Dataset")]
    [InlineData("fp-test-project", "gold`; DROP", "fp-silver", "Dataset")]
    [InlineData("Bad_Project", "gold_test", "fp-silver", "ProjectId")]
    [InlineData("fp-test-project", "gold_test", "gs://fp-silver", "SilverBucket 'gs://fp-silver' is not a valid bucket name")]
    public void Invalid_project_dataset_or_silver_bucket_is_refused_before_any_sql(string project, string dataset, string silverBucket, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => new BigQueryGoldWarehouse(
            Client(), _silver, new BigQueryGoldOptions { ProjectId = project, Dataset = dataset, SilverBucket = silverBucket }, _time, NullLogger<BigQueryGoldWarehouse>.Instance));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private BigQueryGoldWarehouse Warehouse() => new(
        Client(), _silver, new BigQueryGoldOptions { ProjectId = "fp-test-project", Dataset = "gold_test", SilverBucket = SilverBucket }, _time, NullLogger<BigQueryGoldWarehouse>.Instance);

    private BigQueryRestClient Client() => new(
        _http,
        Options.Create(new BigQueryOptions
        {
            ProjectId = _server.ProjectId,
            Location = _server.Location,
            BaseAddress = _server.BaseAddress,
            AccessTokenSource = _ => Task.FromResult<string?>("test-token"),
            PollInterval = TimeSpan.FromMilliseconds(500),
            MaxRetryAttempts = 4,
        }),
        _time,
        NullLogger<BigQueryRestClient>.Instance);

    private JsonNode MergeRequest() =>
        _server.RequestsOf("insert").First(r => r.JobId!.Contains("-merge-", StringComparison.Ordinal)).Body!;

    private static string Scalar(JsonNode parameter, string type)
    {
        Assert.Equal(type, parameter["parameterType"]!["type"]!.GetValue<string>());
        return parameter["parameterValue"]!["value"]!.GetValue<string>();
    }

    private static List<string> DateArray(JsonNode parameter) => Array(parameter, "DATE");

    private static List<string> Array(JsonNode parameter, string elementType)
    {
        Assert.Equal("ARRAY", parameter["parameterType"]!["type"]!.GetValue<string>());
        Assert.Equal(elementType, parameter["parameterType"]!["arrayType"]!["type"]!.GetValue<string>());
        return parameter["parameterValue"]!["arrayValues"]!.AsArray().Select(v => v!["value"]!.GetValue<string>()).ToList();
    }

    private static string Read(string bigQueryFile) => File.ReadAllText(Path.Combine(SqlRoot(), "bigquery", bigQueryFile));

    private static string SqlRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FinancialPipeline.sln")))
            {
                return Path.Combine(dir.FullName, "sql");
            }
        }

        throw new InvalidOperationException("repository root (FinancialPipeline.sln) not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Column names of a CREATE TABLE, in order.</summary>
    private static List<string> Columns(string ddl)
    {
        var body = ddl[ddl.IndexOf("CREATE TABLE", StringComparison.Ordinal)..];
        body = body[(body.IndexOf('(', StringComparison.Ordinal) + 1)..];
        return ColumnLine().Matches(body)
            .Select(m => m.Groups[1].Value.Trim('"', '`'))
            .TakeWhile(name => name != "PRIMARY")
            .ToList();
    }

    [GeneratedRegex(@"^\s{4}([""`]?[A-Za-z_]+[""`]?)\s+[A-Z]", RegexOptions.Multiline)]
    private static partial Regex ColumnLine();

    [GeneratedRegex(@"ON t\.ticker = s\.ticker AND t\.`hour` = s\.`hour` AND DATE\(t\.`hour`\) IN UNNEST\(@target_dates\)")]
    private static partial Regex OnClause();
}
