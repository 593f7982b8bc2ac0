using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <c>fp publish</c> refuses, before publishing, what the Extract function would reject or fail on, and says why; it
/// publishes the rest. A child process against the real emulator and control database; a pull subscription on the
/// start topic shows what was really published.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class PublishCommandTests(StackFixture stack)
{
    [Fact]
    public async Task Publish_RefusesWhatExtractWouldRejectOrFailOn_AndPublishesTheRest()
    {
        await using var watch = await StartTopicWatch.CreateAsync(stack, StackFixture.UniqueName("p") + "-");
        var env = stack.OperatorVariables(watch.Prefix);
        var good = await stack.CreateJobAsync();
        var inactive = await stack.CreateJobAsync(active: false);
        var broken = await stack.CreateBrokenJobAsync();
        var typo = await stack.CreateJobAsync();
        await using (var cmd = stack.DataSource.CreateCommand("UPDATE ingestion_job_config SET provider = 'yahooo' WHERE job_name = @job"))
        {
            cmd.Parameters.AddWithValue("job", typo.JobName);
            await cmd.ExecuteNonQueryAsync();
        }
        // An execution of another job that succeeded: reusing its id would only re-emit that job's stored events.
        var other = await stack.CreateJobAsync();
        var othersExecution = Guid.NewGuid();
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions());
        var lease = (await ledger.ClaimAsync(new ClaimRequest(othersExecution, Stage.Bronze, other.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        var done = TimeProvider.System.GetUtcNow();
        await ledger.CompleteAsync(lease, new StageSuccess(new TimeWindow(done.AddHours(-3), done), [], 7, new Dictionary<string, long>(), "{}"), CancellationToken.None);

        var refused = new (string[] Args, string Reason)[]
        {
            (["--job", "no_such_job"], "--job 'no_such_job' is not in ingestion_job_config; the Extract function would reject the message"),
            (["--job", inactive.JobName], $"job '{inactive.JobName}' is inactive"),
            (["--job", broken], "bucket_name='Not A Bucket'"),
            (["--job", typo.JobName, "--from", "2026-11-20", "--to", "2026-11-21"], "provider='yahooo' is not a provider"),
            (["--job", good.JobName, "--execution-id", othersExecution.ToString("D")], $"execution {othersExecution:D} belongs to job '{other.JobName}', not '{good.JobName}'"),
            (["--job", good.JobName, "--from", "2099-01-01T00:00:00Z", "--to", "2099-01-02T00:00:00Z"], "window.start: 2099-01-01T00:00:00Z is not before the end of the last completed 1h bar"),
            // Extract rejects these before its claim; publishing them would only add a line to fp rejected.
            (["--job", good.JobName, "--from", "1800-01-01", "--to", "2026-01-01"], "window.end: window 1970-01-01T00:00:00Z → 2026-01-01T00:00:00Z can hold 490,896 1h bars of 3 ticker(s), 1,472,688 rows; one Extract run holds at most 250,000"),
            (["--job", good.JobName, "--from", "2026-11-20T00:00:00Z", "--to", "2026-11-20T00:00:00.0000001Z"], "window.end: 2026-11-20T00:00:00.0000001Z is finer than a microsecond"),
            (["--job", good.JobName, "--from", "2026-11-20T00:00:00Z", "--to", "2026-11-20T00:30:00Z"], "window.end: 2026-11-20T00:30:00Z is less than one 1h bar after window.start"),
        };
        foreach (var (args, reason) in refused)
        {
            var result = await FpProcess.RunAsync(env, ["publish", .. args]);
            Assert.Equal(2, result.ExitCode);
            Assert.StartsWith("fp publish: ", result.Stderr, StringComparison.Ordinal);
            Assert.Contains(reason, result.Stderr, StringComparison.Ordinal);
        }

        // Not a job name at all: a usage error, before anything is connected to.
        var badName = await FpProcess.RunAsync(env, "publish", "--job", "Bad!Name");
        Assert.Equal((2, "fp: --job 'Bad!Name' must match ^[a-z][a-z0-9_]{0,63}$"), (badName.ExitCode, badName.Stderr.Split('\n')[0]));

        // Not ISO 8601, a usage error: the lenient parse read a bare time on the machine's current date, 01/02 month first.
        foreach (var (from, to, reason) in new[] { ("10:00", "2026-11-21", "--from '10:00' is not a UTC date or time"), ("2026-11-20", "01/02/2027", "--to '01/02/2027' is not a UTC date or time") })
        {
            var result = await FpProcess.RunAsync(env, "publish", "--job", good.JobName, "--from", from, "--to", to);
            Assert.Equal(2, result.ExitCode);
            Assert.Contains(reason, result.Stderr, StringComparison.Ordinal);
        }

        var badId = await FpProcess.RunAsync(env, "publish", "--job", good.JobName, "--execution-id", "42");
        Assert.Equal(2, badId.ExitCode);
        Assert.Contains("--execution-id '42' is not a UUID", badId.Stderr, StringComparison.Ordinal);
        var nilId = await FpProcess.RunAsync(env, "publish", "--job", good.JobName, "--execution-id", Guid.Empty.ToString("D"));
        Assert.Equal(2, nilId.ExitCode); // the functions reject the nil UUID: publishing it would report a success they drop
        Assert.Contains("--execution-id must not be the nil UUID", nilId.Stderr, StringComparison.Ordinal);

        var now = TimeProvider.System.GetUtcNow();
        var clampedTo = now.AddDays(1).ToString("yyyy-MM-ddT00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var clamped = await FpProcess.RunAsync(env, "publish", "--job", good.JobName, "--from", now.AddDays(-2).ToString("yyyy-MM-ddT00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), "--to", clampedTo);
        Assert.Equal(0, clamped.ExitCode);
        Assert.Contains($"note: backfill end {clampedTo} moved to ", clamped.Stdout, StringComparison.Ordinal);
        var plain = await FpProcess.RunAsync(env, "publish", "--job", good.JobName);
        Assert.Equal(0, plain.ExitCode);
        // Dates are UTC whatever the operator's time zone (System.CommandLine alone read them as São Paulo midnight).
        var day = now.UtcDateTime.Date;
        var inSaoPaulo = new Dictionary<string, string>(env) { ["TZ"] = "America/Sao_Paulo" };
        var dated = await FpProcess.RunAsync(inSaoPaulo, "publish", "--job", good.JobName, "--from", $"{day.AddDays(-3):yyyy-MM-dd}", "--to", $"{day.AddDays(-2):yyyy-MM-dd}");
        Assert.Equal(0, dated.ExitCode);

        var published = new List<ReceivedMessage>();
        await Eventually.WaitAsync(
            async () =>
            {
                published.AddRange(await watch.PullAsync());
                return published.Count >= 3;
            },
            TimeSpan.FromSeconds(30),
            "the three accepted start messages");
        await Task.Delay(TimeSpan.FromSeconds(1));
        published.AddRange(await watch.PullAsync());
        Assert.Equal(3, published.Count);
        Assert.All(published, m => Assert.Equal(good.JobName, StartMessage.Parse(m.Data).JobName));
        var windows = published.Select(m => StartMessage.Parse(m.Data).Window).OfType<TimeWindow>().ToList();
        Assert.Equal(2, windows.Count);
        Assert.Contains(new TimeWindow(new DateTimeOffset(day.AddDays(-3), TimeSpan.Zero), new DateTimeOffset(day.AddDays(-2), TimeSpan.Zero)), windows);
    }
}
