using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <c>fp runs --execution-id</c> as an operator uses it after an alert, in a child process given only the environment:
/// a stage that failed until dead-lettered, the alert it raised, a rejected message naming the execution; then the
/// job fixed, <c>fp replay</c>, and the same report showing the chain finished.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class RunsCommandTests(StackFixture stack)
{
    [Fact]
    public async Task List_OfAJobWithoutExecutions_SaysSo_InsteadOfAnEmptyTable_AndExits0()
    {
        var job = StackFixture.UniqueName("job_");

        var list = await FpProcess.RunAsync(stack.OperatorVariables("fp-"), "runs", "--job", job);

        Assert.Equal((0, string.Empty), (list.ExitCode, list.Stderr));
        Assert.StartsWith($"no execution of job '{job}' found (fp jobs lists the jobs)\n", list.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("│", list.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecutionReport_ShowsTheFullError_TheAlert_TheRejection_AndAfterAReplayTheFinishedChain()
    {
        var job = await stack.CreateBrokenJobAsync();
        // No webhook: the alert goes to the log channel, as locally. Shortest retry policy: five deliveries in seconds.
        await using var pipeline = await stack.StartPipelineAsync(options: o => o with { RetryPolicy = StackFixture.DeadLetterRetryPolicy, AllowDeadLetterBeforeTakeover = true });
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job, null, null);
        var id = start.ExecutionId.ToString("D");
        var alerts = new AlertNotificationStore(stack.DataSource, TimeProvider.System);

        await driver.PublishStartAsync(start);
        // Published without attributes: the execution id the rejection records is the one Extract parsed from the body.
        await driver.PublishRawAsync(Encoding.UTF8.GetBytes($$"""{"execution_id":"{{id}}","job_name":"no_such_job"}"""));
        await Eventually.WaitAsync(
            async () => (await alerts.ListByExecutionAsync(start.ExecutionId, CancellationToken.None)).Any(a => a.Status == "SENT")
                && (await new RejectedMessageStore(stack.DataSource).ListByExecutionAsync(start.ExecutionId, CancellationToken.None)).Count == 1,
            PipelineDriver.RunTimeout,
            "the dead-letter alert sent and the rejection recorded");
        var env = stack.OperatorVariables(pipeline);

        var failed = await FpProcess.RunAsync(env, "runs", "--execution-id", id);

        Assert.Equal(0, failed.ExitCode);
        Assert.Contains($"execution {id} of job {job}", failed.Stdout, StringComparison.Ordinal);
        Assert.Matches("bronze: FAILED, dead-lettered \\(Pub/Sub gave up; only a replay runs it again\\), attempt [0-9]+ \\(retry\\)", failed.Stdout);
        Assert.Contains($"error:      job '{job}': bucket_name='Not A Bucket' is not a valid bucket name", failed.Stdout, StringComparison.Ordinal); // whole, not cut at 60
        Assert.Contains("silver: not started", failed.Stdout, StringComparison.Ordinal);
        Assert.Contains("gold: not started", failed.Stdout, StringComparison.Ordinal);
        Assert.Contains("alerts: 1", failed.Stdout, StringComparison.Ordinal);
        Assert.Matches("dead_letter \\(bronze\\), raised .* UTC, posted to log .* UTC, 1 attempt\\(s\\)", failed.Stdout);
        Assert.Contains($"    Dead letter: bronze of execution {id}", failed.Stdout, StringComparison.Ordinal); // the text that was posted
        Assert.Contains("rejected messages naming it: 1", failed.Stdout, StringComparison.Ordinal);
        Assert.Matches("#[0-9]+ .* UTC extract: job_name: unknown job 'no_such_job' \\(fp rejected --id [0-9]+\\)", failed.Stdout);
        Assert.Contains($"to re-run bronze and the stages after it: fp replay --execution-id {id} --stage bronze", failed.Stdout, StringComparison.Ordinal);

        var list = await FpProcess.RunAsync(env, "runs", "--job", job);
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("fp runs --execution-id ID prints one execution whole", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("│ FAILED, dead-lettered │", list.Stdout, StringComparison.Ordinal);

        // The operator fixes the job and replays what the report said.
        await using (var fix = stack.DataSource.CreateCommand("UPDATE ingestion_job_config SET bucket_name = 'bronze-fixed' WHERE job_name = @job"))
        {
            fix.Parameters.AddWithValue("job", job);
            Assert.Equal(1, await fix.ExecuteNonQueryAsync());
        }

        var replay = await FpProcess.RunAsync(env, "replay", "--execution-id", id, "--stage", "bronze");
        Assert.Equal(0, replay.ExitCode);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);

        var done = await FpProcess.RunAsync(env, "runs", "--execution-id", id);

        Assert.Equal(0, done.ExitCode);
        // --by defaults to the OS user, kept with the replayed attempt.
        Assert.Matches($"bronze: SUCCESS, attempt [0-9]+ \\(replay by {System.Text.RegularExpressions.Regex.Escape(Environment.UserName)}\\)", done.Stdout);
        Assert.Contains("silver: SUCCESS, attempt 1 (new)", done.Stdout, StringComparison.Ordinal);
        Assert.Contains("gold: SUCCESS, attempt 1 (new)", done.Stdout, StringComparison.Ordinal);
        Assert.Contains("/bronze-fixed/financial_quotes/ingest_date=", done.Stdout, StringComparison.Ordinal);
        Assert.Contains("tickers_requested=3", done.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("error:", done.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("to re-run", done.Stdout, StringComparison.Ordinal);
        Assert.Contains("alerts: 1", done.Stdout, StringComparison.Ordinal); // the alert stays on record

        var unknown = await FpProcess.RunAsync(env, "runs", "--execution-id", Guid.NewGuid().ToString("D"));
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("nothing recorded", unknown.Stdout, StringComparison.Ordinal);

        // A usage error: exit 2, one sentence naming the option, and where help is.
        var notAnId = await FpProcess.RunAsync(env, "runs", "--execution-id", "yesterday");
        Assert.Equal(2, notAnId.ExitCode);
        Assert.Equal(
            ["fp: --execution-id 'yesterday' is not a UUID (for example 6f0e8d7c-1111-4222-8333-944455556666)", "fp runs --help lists the options"],
            notAnId.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
