using System.Net;
using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Stages.Runner;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Integration.Tests;

[Collection(nameof(StackFixture))]
public sealed class LedgerTests(StackFixture stack)
{
    private static readonly LedgerOptions Options = new() { StaleAfter = TimeSpan.FromSeconds(60), HeartbeatInterval = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task EightConcurrentClaimers_ExactlyOneWins_EveryTime()
    {
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, Options);
        for (var round = 0; round < 25; round++)
        {
            var request = new ClaimRequest(Guid.NewGuid(), Stage.Bronze, "financial_extract", null, null, null, null);
            using var gate = new ManualResetEventSlim(false);
            var claims = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                gate.Wait();
                return await ledger.ClaimAsync(request, CancellationToken.None);
            })).ToList();
            gate.Set();
            var results = await Task.WhenAll(claims);

            Assert.Single(results, r => r.Outcome == ClaimOutcome.Claimed);
            Assert.Equal(7, results.Count(r => r.Outcome == ClaimOutcome.Busy));
            Assert.Single(await ledger.ListAsync(request.ExecutionId, CancellationToken.None));
        }
    }

    [Fact]
    public async Task Claim_FollowsTheStageRules_ForSuccessFailedAndStaleRows()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 20, 0, 0, TimeSpan.Zero));
        var ledger = new ExecutionLedger(stack.DataSource, time, Options);
        var request = new ClaimRequest(Guid.NewGuid(), Stage.Silver, "financial_extract", null, null, null, null);
        var window = new TimeWindow(time.GetUtcNow().AddHours(-5), time.GetUtcNow());

        var first = await ledger.ClaimAsync(request, CancellationToken.None);
        Assert.Equal((ClaimOutcome.Claimed, 1, "new"), (first.Outcome, first.Lease!.Attempt, first.Lease.ClaimReason));
        Assert.True(await ledger.FailAsync(first.Lease, "boom", CancellationToken.None));

        var retry = await ledger.ClaimAsync(request, CancellationToken.None);
        Assert.Equal((ClaimOutcome.Claimed, 2, "retry"), (retry.Outcome, retry.Lease!.Attempt, retry.Lease.ClaimReason));

        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(ClaimOutcome.Busy, (await ledger.ClaimAsync(request, CancellationToken.None)).Outcome);

        time.Advance(TimeSpan.FromSeconds(61));
        var takeover = await ledger.ClaimAsync(request, CancellationToken.None);
        Assert.Equal((ClaimOutcome.Claimed, 3, "takeover"), (takeover.Outcome, takeover.Lease!.Attempt, takeover.Lease.ClaimReason));
        // The zombie's last heartbeat (the retry's claim, 91 s before), for the takeover alert; a new row has none.
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 20, 0, 0, TimeSpan.Zero), takeover.Lease.PreviousHeartbeatAt);
        Assert.Null(first.Lease.PreviousHeartbeatAt);

        // The zombie notices: its heartbeat, its writes and its commit are refused.
        Assert.False(await ledger.HeartbeatAsync(retry.Lease, CancellationToken.None));
        var zombieContext = new StageContext(ledger, retry.Lease, null!, null!, CancellationToken.None);
        await Assert.ThrowsAsync<LeaseLostException>(zombieContext.EnsureOwnedAsync);
        Assert.False(await ledger.CompleteAsync(retry.Lease, new StageSuccess(window, [], 0, new Dictionary<string, long>(), "{}"), CancellationToken.None));
        Assert.False(await ledger.FailAsync(retry.Lease, "late", CancellationToken.None));

        Assert.True(await ledger.CompleteAsync(takeover.Lease, new StageSuccess(window, ["file:///x"], 7, new Dictionary<string, long>(), """{"done":true}"""), CancellationToken.None));
        var done = await ledger.ClaimAsync(request, CancellationToken.None);
        Assert.Equal(ClaimOutcome.AlreadySucceeded, done.Outcome);
        Assert.Contains("\"done\"", done.CompletionJson, StringComparison.Ordinal);
        var row = await ledger.GetAsync(request.ExecutionId, Stage.Silver, CancellationToken.None);
        Assert.Equal(("SUCCESS", 3, 7L, (string?)null), (row!.Status, row.Attempt, row.Records!.Value, row.Error));

        // The row shows attempt 3 only; the two it replaced are kept as they stood, for fp runs --execution-id.
        var replaced = await ledger.ListReplacedAttemptsAsync(request.ExecutionId, CancellationToken.None);
        Assert.Equal(
            [
                (1, "FAILED", "new", "boom", "retry", new DateTimeOffset(2026, 11, 23, 20, 0, 0, TimeSpan.Zero)),
                (2, "RUNNING", "retry", (string?)null, "takeover", new DateTimeOffset(2026, 11, 23, 20, 1, 31, TimeSpan.Zero)),
            ],
            replaced.Select(a => (a.Attempt, a.Status, a.ClaimReason, a.Error, a.ReplacedBy, a.ReplacedAt)));
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 20, 0, 0, TimeSpan.Zero), replaced[1].HeartbeatAt); // the zombie's last sign of life
    }

    [Fact]
    public async Task AReclaimedRow_ShowsNoneOfThePreviousAttemptsOutputsOrCounts_ButKeepsItsWindow()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 20, 0, 0, TimeSpan.Zero));
        var ledger = new ExecutionLedger(stack.DataSource, time, Options);
        var request = new ClaimRequest(Guid.NewGuid(), Stage.Bronze, "financial_extract", null, null, null, null);
        var window = new TimeWindow(time.GetUtcNow().AddHours(-5), time.GetUtcNow());
        var first = await ledger.ClaimAsync(request, CancellationToken.None);
        Assert.True(await ledger.CompleteAsync(first.Lease!, new StageSuccess(window, ["file:///bronze"], 137400, new Dictionary<string, long>(), """{"done":true}"""), CancellationToken.None));
        var publishedAt = time.GetUtcNow();
        Assert.True(await ledger.MarkCompletionPublishedAsync(request.ExecutionId, Stage.Bronze, 1, CancellationToken.None));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(await ledger.MarkCompletionPublishedAsync(request.ExecutionId, Stage.Bronze, 1, CancellationToken.None)); // the first publish's time stays
        Assert.Equal(publishedAt, (await ledger.GetAsync(request.ExecutionId, Stage.Bronze, CancellationToken.None))!.CompletionPublishedAt);

        // An operator replays it (fp replay): reset, then claimed again by the redelivered trigger.
        await new LedgerOperations(stack.DataSource, time, Options).ResetForReplayAsync(request.ExecutionId, Stage.Bronze, "tests", CancellationToken.None);
        var reset = await ledger.GetAsync(request.ExecutionId, Stage.Bronze, CancellationToken.None);
        var replay = await ledger.ClaimAsync(request, CancellationToken.None);
        var running = await ledger.GetAsync(request.ExecutionId, Stage.Bronze, CancellationToken.None);

        foreach (var row in new[] { reset!, running! })
        {
            Assert.Equal(((string?)null, (long?)null, (string?)null, (DateTimeOffset?)null), (row.CompletionJson, row.Records, row.Filename, row.CompletionPublishedAt));
            Assert.Equal((window.Start, window.End), (row.StartTime!.Value, row.EndTime!.Value));
        }

        Assert.Equal(("RUNNING", 2, "replay"), (running!.Status, replay.Lease!.Attempt, replay.Lease.ClaimReason));

        // The reset erased a success; the attempt it replaced is kept as it stood, once (the replay's claim finds it kept).
        var kept = Assert.Single(await ledger.ListReplacedAttemptsAsync(request.ExecutionId, CancellationToken.None));
        Assert.Equal((1, "SUCCESS", 137400L, "replay"), (kept.Attempt, kept.Status, kept.Records!.Value, kept.ReplacedBy));
        Assert.Equal("""{"done": true}""", kept.CompletionJson); // what it had published, as jsonb renders it
        Assert.Equal(publishedAt, kept.CompletionPublishedAt);

        // A late re-emit of the replaced attempt records nothing on the replay's row, whose own publish is recorded.
        Assert.True(await ledger.CompleteAsync(replay.Lease, new StageSuccess(window, ["file:///bronze"], 137400, new Dictionary<string, long>(), "{}"), CancellationToken.None));
        Assert.False(await ledger.MarkCompletionPublishedAsync(request.ExecutionId, Stage.Bronze, 1, CancellationToken.None));
        Assert.False((await ledger.GetAsync(request.ExecutionId, Stage.Bronze, CancellationToken.None))!.CompletionUnpublished); // nothing failed yet
        await ledger.MarkCompletionPublishFailedAsync(request.ExecutionId, Stage.Bronze, 1, CancellationToken.None); // the replaced attempt's: no effect
        Assert.False((await ledger.GetAsync(request.ExecutionId, Stage.Bronze, CancellationToken.None))!.CompletionUnpublished);
        await ledger.MarkCompletionPublishFailedAsync(request.ExecutionId, Stage.Bronze, 2, CancellationToken.None);
        Assert.True((await ledger.GetAsync(request.ExecutionId, Stage.Bronze, CancellationToken.None))!.CompletionUnpublished);
        Assert.True(await ledger.MarkCompletionPublishedAsync(request.ExecutionId, Stage.Bronze, 2, CancellationToken.None));
        Assert.False((await ledger.GetAsync(request.ExecutionId, Stage.Bronze, CancellationToken.None))!.CompletionUnpublished); // out at last
    }

    [Fact]
    public async Task RunningWithFreshHeartbeat_IsAnsweredNon2xx_AndRedeliveredLater()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, Options);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        var held = await ledger.ClaimAsync(new ClaimRequest(start.ExecutionId, Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None);
        Assert.Equal(ClaimOutcome.Claimed, held.Outcome);

        using var http = new HttpClient();
        var push = $$"""{"message":{"data":"{{Convert.ToBase64String(start.ToUtf8Json())}}","messageId":"42"},"subscription":"projects/p/subscriptions/s"}""";
        using var response = await http.PostAsync(pipeline.HostAddresses[0], new StringContent(push, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var row = await ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("RUNNING", 1), (row!.Status, row.Attempt));
    }

    [Fact]
    public async Task StaleRunningRow_IsTakenOverThroughThePipeline_WithAttemptPlusOne()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        // A worker that died long ago: RUNNING with a heartbeat far older than the hosts' 20 s staleness.
        var past = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(-10));
        var zombie = await new ExecutionLedger(stack.DataSource, past, Options).ClaimAsync(new ClaimRequest(start.ExecutionId, Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None);

        await driver.PublishStartAsync(start);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);

        var bronze = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("SUCCESS", 2, "takeover"), (bronze!.Status, bronze.Attempt, bronze.ClaimReason));
        Assert.False(await driver.Ledger.HeartbeatAsync(zombie.Lease!, CancellationToken.None));
    }
}
