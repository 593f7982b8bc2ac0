using System.Text.Json.Nodes;
using FinancialPipeline.Warehouse.BigQuery;
using FinancialPipeline.Warehouse.Tests.Fakes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Warehouse.Tests;

/// <summary>The REST client against an in-process fake BigQuery: request shape, polling, retries, duplicates.</summary>
public sealed class BigQueryRestClientTests : IAsyncLifetime, IDisposable
{
    private const string MergeSql = "MERGE `fp-test-project.gold.prices` T USING (SELECT @d AS d) S ON T.d = S.d WHEN NOT MATCHED THEN INSERT ROW";

    private readonly JumpingTimeProvider _time = new();
    private readonly HttpClient _http = new();
    private FakeBigQueryServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeBigQueryServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Job_not_complete_twice_is_polled_until_complete_and_returns_statistics()
    {
        var jobId = NewJobId();
        _server.ScriptFor = _ => JobScript.Success(rows: 42, processed: 2048, billed: 10_485_760, pendingPolls: 2);

        var result = await Client().ExecuteQueryAsync(MergeSql, [BigQueryParameter.Date("d", new DateOnly(2024, 1, 2))], jobId);

        Assert.Equal(new BigQueryJobResult(jobId, "us-east4", 42, 2048, 10_485_760, ReusedExistingJob: false), result);
        Assert.Empty(_server.Violations);
        Assert.Equal(["insert", "poll", "poll", "poll", "get"], _server.Requests.Select(r => r.Kind));
        Assert.All(_server.Requests, r => Assert.Equal("Bearer test-token", r.Authorization));
        Assert.All(_server.RequestsOf("poll"), r =>
        {
            Assert.Equal("us-east4", r.Query["location"]);
            Assert.True(long.Parse(r.Query["timeoutMs"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        });
        Assert.Equal("us-east4", _server.RequestsOf("get").Single().Query["location"]);
        Assert.Equal([TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500)], _time.Waits);
    }

    [Fact]
    public async Task Insert_body_carries_job_reference_standard_sql_and_named_parameters()
    {
        var jobId = NewJobId();

        await Client().ExecuteQueryAsync(
            MergeSql,
            [
                BigQueryParameter.String("symbol", "AAPL"),
                BigQueryParameter.Int64("n", 7),
                BigQueryParameter.StringArray("syms", ["AAPL", "MSFT"]),
            ],
            jobId);

        var body = _server.RequestsOf("insert").Single().Body!;
        var expected = JsonNode.Parse("""
            {"jobReference":{"projectId":"fp-test-project","jobId":"JOB_ID","location":"us-east4"},
             "configuration":{"query":{"query":SQL,"useLegacySql":false,"parameterMode":"NAMED",
               "queryParameters":[
                 {"name":"symbol","parameterType":{"type":"STRING"},"parameterValue":{"value":"AAPL"}},
                 {"name":"n","parameterType":{"type":"INT64"},"parameterValue":{"value":"7"}},
                 {"name":"syms","parameterType":{"type":"ARRAY","arrayType":{"type":"STRING"}},
                  "parameterValue":{"arrayValues":[{"value":"AAPL"},{"value":"MSFT"}]}}]}}}
            """.Replace("JOB_ID", jobId, StringComparison.Ordinal).Replace("SQL", JsonValue.Create(MergeSql).ToJsonString(), StringComparison.Ordinal));
        Assert.True(JsonNode.DeepEquals(expected, body), body.ToJsonString());
    }

    [Fact]
    public async Task Concurrent_update_failure_reruns_the_query_under_a_new_deterministic_job_id()
    {
        var jobId = NewJobId();
        _server.ScriptFor = id => id == jobId
            ? JobScript.Failure("invalidQuery", "Could not serialize access to table fp-test-project:gold.prices due to concurrent update")
            : JobScript.Success(rows: 5);

        var result = await Client().ExecuteQueryAsync(MergeSql, [], jobId);

        Assert.Equal(jobId + "-r1", result.JobId);
        Assert.Equal(5, result.NumDmlAffectedRows);
        Assert.Equal([jobId, jobId + "-r1"], _server.RequestsOf("insert").Select(r => r.JobId));
        Assert.Empty(_server.Violations);
    }

    [Fact]
    public async Task Too_many_requests_waits_for_retry_after_then_inserts_the_same_job_id()
    {
        var jobId = NewJobId();
        _server.InsertFaults.Enqueue(new Fault(429, RetryAfterSeconds: 7));

        var result = await Client().ExecuteQueryAsync(MergeSql, [], jobId);

        Assert.Equal(jobId, result.JobId);
        Assert.Equal([429, 200], _server.RequestsOf("insert").Select(r => r.ResponseStatus));
        Assert.All(_server.RequestsOf("insert"), r => Assert.Equal(jobId, r.JobId));
        Assert.Equal(TimeSpan.FromSeconds(7), _time.Waits.First());
    }

    [Fact]
    public async Task Service_unavailable_on_insert_and_on_jobs_get_is_retried_with_backoff()
    {
        var jobId = NewJobId();
        _server.InsertFaults.Enqueue(new Fault(503));
        _server.GetJobFaults.Enqueue(new Fault(503));
        _server.GetJobFaults.Enqueue(new Fault(500));

        var result = await Client().ExecuteQueryAsync(MergeSql, [], jobId);

        Assert.Equal(3, result.NumDmlAffectedRows);
        Assert.Equal([503, 200], _server.RequestsOf("insert").Select(r => r.ResponseStatus));
        Assert.Equal([503, 500, 200], _server.RequestsOf("get").Select(r => r.ResponseStatus));
        Assert.Equal(1, _server.SuccessfulInserts(jobId));
        var waits = _time.Waits.ToArray();
        Assert.Equal(3, waits.Length);
        Assert.All(waits, w => Assert.InRange(w, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Permanent_job_error_throws_with_bigquerys_message_and_is_not_retried()
    {
        var jobId = NewJobId();
        const string syntax = "Syntax error: Expected end of input but got identifier \"SELEC\" at [1:1]";
        _server.ScriptFor = _ => JobScript.Failure("invalidQuery", syntax, location: "query");

        var ex = await Assert.ThrowsAsync<BigQueryJobException>(() => Client().ExecuteQueryAsync("SELEC 1", [], jobId));

        Assert.Equal(syntax, ex.Message);
        Assert.Equal("invalidQuery", ex.Reason);
        Assert.Equal("query", ex.ErrorLocation);
        Assert.Equal(jobId, ex.JobId);
        Assert.True(ex.IsPermanent);
        Assert.Single(_server.RequestsOf("insert"));
        Assert.Empty(_time.Waits);
    }

    [Fact]
    public async Task Job_that_fails_at_insert_time_is_reported_without_polling()
    {
        var jobId = NewJobId();
        _server.ScriptFor = _ => JobScript.Failure("notFound", "Not found: Dataset fp-test-project:gold was not found in location us-east4", doneOnInsert: true);

        var ex = await Assert.ThrowsAsync<BigQueryJobException>(() => Client().ExecuteQueryAsync(MergeSql, [], jobId));

        Assert.Equal("notFound", ex.Reason);
        Assert.StartsWith("Not found: Dataset", ex.Message, StringComparison.Ordinal);
        Assert.Equal(["insert"], _server.Requests.Select(r => r.Kind));
    }

    [Fact]
    public async Task Permanent_http_error_on_insert_is_not_retried()
    {
        _server.InsertFaults.Enqueue(new Fault(400, Reason: "invalid"));

        var ex = await Assert.ThrowsAsync<BigQueryJobException>(() => Client().ExecuteQueryAsync(MergeSql, [], NewJobId()));

        Assert.Equal("invalid", ex.Reason);
        Assert.Equal(400, ex.HttpStatusCode);
        Assert.True(ex.IsPermanent);
        Assert.Single(_server.RequestsOf("insert"));
    }

    [Fact]
    public async Task Transient_job_failures_stop_after_max_attempts_and_are_not_permanent()
    {
        var jobId = NewJobId();
        _server.ScriptFor = _ => JobScript.Failure("backendError", "Backend error. Job aborted.");

        var ex = await Assert.ThrowsAsync<BigQueryJobException>(() => Client(maxRetries: 2).ExecuteQueryAsync(MergeSql, [], jobId));

        Assert.False(ex.IsPermanent);
        Assert.Equal("backendError", ex.Reason);
        Assert.Equal(jobId + "-r2", ex.JobId);
        Assert.Equal([jobId, jobId + "-r1", jobId + "-r2"], _server.RequestsOf("insert").Select(r => r.JobId));
    }

    [Fact]
    public async Task Insert_whose_answer_was_lost_meets_409_and_adopts_the_existing_job()
    {
        var jobId = NewJobId();
        _server.ScriptFor = _ => JobScript.Success(rows: 9, pendingPolls: 1);
        _server.InsertFaults.Enqueue(new Fault(503, AfterApplying: true));

        var result = await Client().ExecuteQueryAsync(MergeSql, [], jobId);

        Assert.Equal(new BigQueryJobResult(jobId, "us-east4", 9, 1024, 10_485_760, ReusedExistingJob: true), result);
        Assert.Equal([503, 409], _server.RequestsOf("insert").Select(r => r.ResponseStatus));
        Assert.Equal(1, _server.SuccessfulInserts(jobId));
    }

    [Fact]
    public async Task Redelivered_execution_with_the_same_job_id_waits_for_the_existing_job_instead_of_running_again()
    {
        var jobId = NewJobId();
        _server.SeedJob(jobId, MergeSql, JobScript.Success(rows: 11, pendingPolls: 2));

        var result = await Client().ExecuteQueryAsync(MergeSql, [], jobId);

        Assert.True(result.ReusedExistingJob);
        Assert.Equal(11, result.NumDmlAffectedRows);
        Assert.Equal(1, _server.SuccessfulInserts(jobId));
        Assert.Equal([409], _server.RequestsOf("insert").Select(r => r.ResponseStatus));
        Assert.Equal(3, _server.RequestsOf("poll").Count);
    }

    [Fact]
    public async Task Existing_job_with_a_different_query_is_refused()
    {
        var jobId = NewJobId();
        _server.SeedJob(jobId, "DELETE FROM `fp-test-project.gold.prices` WHERE TRUE", JobScript.Success());

        var ex = await Assert.ThrowsAsync<BigQueryJobException>(() => Client().ExecuteQueryAsync(MergeSql, [], jobId));

        Assert.Equal("duplicateJobIdMismatch", ex.Reason);
        Assert.True(ex.IsPermanent);
        Assert.Empty(_server.RequestsOf("poll"));
    }

    [Fact]
    public async Task Job_still_running_after_the_timeout_fails_as_transient_naming_the_job()
    {
        var jobId = NewJobId();
        _server.ScriptFor = _ => new JobScript(PendingPolls: int.MaxValue);

        var ex = await Assert.ThrowsAsync<BigQueryJobException>(
            () => Client(configure: o => { o.Timeout = TimeSpan.FromSeconds(30); o.PollInterval = TimeSpan.FromSeconds(5); })
                .ExecuteQueryAsync(MergeSql, [], jobId));

        Assert.Equal("timeout", ex.Reason);
        Assert.False(ex.IsPermanent);
        Assert.Equal(jobId, ex.JobId);
        Assert.Equal(6, _server.RequestsOf("poll").Count);
        Assert.Single(_server.RequestsOf("insert"));
    }

    [Fact]
    public async Task Null_token_sends_no_authorization_header()
    {
        await using var server = await FakeBigQueryServer.StartAsync(expectedToken: null);

        var result = await Client(server, o => o.AccessTokenSource = _ => Task.FromResult<string?>(null))
            .ExecuteQueryAsync(MergeSql, [], NewJobId());

        Assert.Equal(3, result.NumDmlAffectedRows);
        Assert.Empty(server.Violations);
        Assert.All(server.Requests, r => Assert.Null(r.Authorization));
    }

    [Fact]
    public async Task Invalid_job_id_or_parameter_is_rejected_before_any_request()
    {
        var client = Client();

        await Assert.ThrowsAsync<ArgumentException>(() => client.ExecuteQueryAsync(MergeSql, [], "job; DROP"));
        await Assert.ThrowsAsync<ArgumentException>(() => client.ExecuteQueryAsync(MergeSql, [BigQueryParameter.String("bad name", "x")], NewJobId()));
        Assert.Empty(_server.Requests);
    }

    private static string NewJobId() => BigQueryJobIds.For(Guid.NewGuid(), "gold", 1, "merge");

    [Fact]
    public async Task GetTable_reads_the_schemas_column_names_in_order_and_null_for_a_missing_table()
    {
        _server.SeedTable("gold", "prices", "ticker", "hour", "Currency");

        var table = await Client().GetTableAsync("gold", "prices");
        var missing = await Client().GetTableAsync("gold", "nothing_here");

        Assert.NotNull(table);
        Assert.Equal(["ticker", "hour", "Currency"], table.ColumnNames);
        Assert.True(table.HasColumn("currency"));
        Assert.False(table.HasColumn("vwap"));
        Assert.Null(missing);
        Assert.Empty(_server.Violations);
        Assert.Empty(_server.RequestsOf("insert"));
        Assert.All(_server.RequestsOf("table"), r => Assert.Equal("Bearer test-token", r.Authorization));
    }

    [Fact]
    public async Task GetTable_with_a_field_without_a_name_is_an_error_naming_the_field()
    {
        _server.SeedTableResource("gold", "prices", JsonNode.Parse("""{"kind":"bigquery#table","schema":{"fields":[{"name":"ticker","type":"STRING"},{"type":"STRING"}]}}""")!.AsObject());

        var error = await Assert.ThrowsAsync<BigQueryJobException>(() => Client().GetTableAsync("gold", "prices"));

        Assert.Contains("schema.fields[1].name", error.Message, StringComparison.Ordinal);
        Assert.Contains("fp-test-project.gold.prices", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetTable_refused_is_a_permanent_error_with_BigQuerys_message_and_no_job_id()
    {
        _server.TableFaults.Enqueue(new Fault(403, Reason: "accessDenied"));

        var error = await Assert.ThrowsAsync<BigQueryJobException>(() => Client().GetTableAsync("gold", "prices"));

        Assert.True(error.IsPermanent);
        Assert.Equal("accessDenied", error.Reason);
        Assert.Equal(403, error.HttpStatusCode);
        Assert.Null(error.JobId);
        await Assert.ThrowsAsync<ArgumentException>(() => Client().GetTableAsync("gold-x", "prices"));
    }

    private BigQueryRestClient Client(int maxRetries = 4, Action<BigQueryOptions>? configure = null) =>
        Client(_server, o =>
        {
            o.MaxRetryAttempts = maxRetries;
            configure?.Invoke(o);
        });

    private BigQueryRestClient Client(FakeBigQueryServer server, Action<BigQueryOptions> configure)
    {
        var options = new BigQueryOptions
        {
            ProjectId = server.ProjectId,
            Location = server.Location,
            BaseAddress = server.BaseAddress,
            PollInterval = TimeSpan.FromMilliseconds(500),
            ServerWait = TimeSpan.FromSeconds(2),
            RetryBaseDelay = TimeSpan.FromSeconds(1),
            MaxRetryDelay = TimeSpan.FromSeconds(30),
            AccessTokenSource = _ => Task.FromResult<string?>("test-token"),
        };
        configure(options);
        return new BigQueryRestClient(_http, Options.Create(options), _time, NullLogger<BigQueryRestClient>.Instance);
    }
}
