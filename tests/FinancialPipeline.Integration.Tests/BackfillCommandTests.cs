using System.Globalization;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <c>fp backfill</c> checks its windows as <c>fp publish</c> checks one, before it publishes anything: a range with
/// nothing to fetch is refused (exit 2), the windows at its ends with nothing to fetch are left out with a note, and the
/// rest runs. A child process against the real emulator and control database.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class BackfillCommandTests(StackFixture stack)
{
    [Fact]
    public async Task ARangeWithNothingToFetch_IsRefusedWithExit2_AndNothingIsPublished()
    {
        await using var watch = await StartTopicWatch.CreateAsync(stack, StackFixture.UniqueName("b") + "-");
        var env = stack.OperatorVariables(watch.Prefix);
        var synthetic = await stack.CreateJobAsync();
        var yahoo = await stack.CreateJobAsync(provider: "yahoo");
        var today = Today(); // the future range starts a day clear of it: still future if the run crosses UTC midnight

        var refused = new (string Job, DateTimeOffset From, DateTimeOffset To, string Reason)[]
        {
            (synthetic.JobName, today.AddDays(2), today.AddDays(4), $"window.start: {Day(today.AddDays(2))}T00:00:00Z is not before the end of the last completed 1h bar"),
            (yahoo.JobName, today.AddDays(-900), today.AddDays(-800), "window.end: "),
        };
        foreach (var (job, from, to, reason) in refused)
        {
            var result = await FpProcess.RunAsync(env, "backfill", "--job", job, "--from", Day(from), "--to", Day(to), "--window-days", "7");

            Assert.Equal(2, result.ExitCode);
            Assert.StartsWith($"fp backfill: nothing from {Day(from)} to {Day(to)} can be fetched: ", result.Stderr, StringComparison.Ordinal);
            Assert.Contains(reason, result.Stderr, StringComparison.Ordinal);
        }

        // Whatever was published would be in the subscription by now (fp publish's accepted messages arrive in ms).
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Empty(await watch.PullAsync());
    }

    [Fact]
    public async Task ARangeReachingIntoTheFuture_RunsItsFetchableWindows_AndLeavesTheRestOutWithANote()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var today = Today();

        var result = await FpProcess.RunAsync(
            stack.OperatorVariables(pipeline), "backfill", "--job", job.JobName, "--from", Day(today.AddDays(-1)), "--to", Day(today.AddDays(3)), "--window-days", "1");

        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        // Today's window is clamped to the last completed bar, or left out too in the first hour of the UTC day.
        Assert.Matches($"note: ({Day(today)}|{Day(today.AddDays(1))}) → {Day(today.AddDays(3))} left out \\([23] window\\(s\\)\\), nothing in it can be fetched: window.start: ", result.Stdout);
        Assert.Matches("backfill of .*: [12] window\\(s\\)", result.Stdout);
        Assert.Matches("[12] succeeded, 0 skipped \\(already done\\), 0 failed", result.Stdout);
        var yesterday = await new PipelineDriver(stack, pipeline).Ledger.GetAsync(
            Stages.Operations.Backfill.ExecutionId(job.JobName, new TimeWindow(today.AddDays(-1), today)), Stage.Gold, CancellationToken.None);
        Assert.Equal("SUCCESS", yesterday?.Status);
    }

    /// <summary>Midnight UTC of the current day, read when a test starts (not once per class, which a slow run could outlive).</summary>
    private static DateTimeOffset Today() => new(TimeProvider.System.GetUtcNow().UtcDateTime.Date, TimeSpan.Zero);

    private static string Day(DateTimeOffset day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
