using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using DuckDB.NET.Data;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.DevServices;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Operations;
using Microsoft.Extensions.DependencyInjection;
using FinancialPipeline.PubSub;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Integration.Tests;

/// <summary>Operator actions against a running local pipeline: gcloud replays, stage replays, runs, backfills.</summary>
[Collection(nameof(StackFixture))]
public sealed class OperationsTests(StackFixture stack)
{
    private static readonly LedgerOptions Options = new() { StaleAfter = TimeSpan.FromSeconds(20) };

    [Fact]
    public async Task GcloudPublish_ThroughTheEmulator_CompletesARun_AndRepublishingChangesNothing()
    {
        var gcloud = FindGcloud();
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var executionId = Guid.NewGuid();
        var message = $$"""{"execution_id":"{{executionId:D}}","job_name":"{{job.JobName}}"}""";

        await RunGcloudAsync(gcloud, pipeline, message);
        await driver.WaitForGoldCompletedAsync(executionId, 1);
        var rowsBefore = await driver.Ledger.ListAsync(executionId, CancellationToken.None);
        Assert.Equal(["bronze", "silver", "gold"], rowsBefore.Select(r => r.Stage));
        Assert.All(rowsBefore, r => Assert.Equal(("SUCCESS", 1), (r.Status, r.Attempt)));
        var goldBefore = await PipelineEndToEndTests.GoldRowCountAsync(pipeline.Settings.DuckDbPath, job.Tickers);
        var silverBefore = SilverFiles(pipeline, job);
        Assert.NotEmpty(silverBefore);

        // The same replay again: every stage finds SUCCESS and re-emits; nothing is recomputed.
        await RunGcloudAsync(gcloud, pipeline, message);
        await driver.WaitForGoldCompletedAsync(executionId, 1);

        var rowsAfter = await driver.Ledger.ListAsync(executionId, CancellationToken.None);
        Assert.Equal(
            rowsBefore.Select(r => (r.Stage, r.Status, r.Attempt, r.FinishedAt)),
            rowsAfter.Select(r => (r.Stage, r.Status, r.Attempt, r.FinishedAt)));
        Assert.Equal(goldBefore, await PipelineEndToEndTests.GoldRowCountAsync(pipeline.Settings.DuckDbPath, job.Tickers));
        Assert.Equal(silverBefore, SilverFiles(pipeline, job));
    }

    [Fact]
    public async Task ReplayOfSilver_RerunsSilverAndGold_WithIdenticalOutputs_AndLeavesBronzeAlone()
    {
        var (job, pipeline, driver, op, start) = await RunOneExecutionAsync();
        await using var stopPipeline = pipeline;
        var before = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        var silverBefore = await SilverContentAsync(pipeline, job);
        var goldBefore = await GoldContentAsync(pipeline);

        var result = await op.ReplayAsync(start.ExecutionId, Stage.Silver, "tests", CancellationToken.None);

        Assert.Equal(["silver", "gold"], result.ResetStages);
        Assert.Equal(op.Topics.CompletedOf(Stage.Bronze), result.Topic);
        await Eventually.WaitAsync(
            async () => (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Gold, CancellationToken.None)) is { Status: "SUCCESS", Attempt: 2 },
            PipelineDriver.RunTimeout,
            "gold SUCCESS attempt 2");
        var after = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        Assert.Equal(before[0], after[0]); // bronze untouched, to the timestamp
        Assert.All(after.Skip(1), r => Assert.Equal(("SUCCESS", 2, "replay"), (r.Status, r.Attempt, r.ClaimReason)));
        Assert.Equal(silverBefore, await SilverContentAsync(pipeline, job));
        Assert.Equal(goldBefore, await GoldContentAsync(pipeline));
    }

    [Fact]
    public async Task FpReplayBy_IsKeptWithTheReplayedAttempt_InTheLedger_TheAttemptArchive_AndFpRuns()
    {
        // The name went only into the reset row's error text, which the replayed attempt's claim clears: once the
        // replay ran, no row held it.
        var (_, pipeline, driver, _, start) = await RunOneExecutionAsync();
        await using var stopPipeline = pipeline;
        var id = start.ExecutionId.ToString("D");

        async Task ReplaySilverAsync(string by, int attempt)
        {
            var replay = await FpProcess.RunAsync(stack.OperatorVariables(pipeline), "replay", "--execution-id", id, "--stage", "silver", "--by", by);
            Assert.True(replay.ExitCode == 0, replay.Stderr);
            await Eventually.WaitAsync(
                async () => (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Gold, CancellationToken.None)) is { Status: "SUCCESS" } gold && gold.Attempt == attempt,
                PipelineDriver.RunTimeout,
                $"gold SUCCESS attempt {attempt}");
        }

        await ReplaySilverAsync("alice", 2);
        var rows = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        Assert.Null(rows[0].ReplayRequestedBy); // bronze was not replayed
        Assert.All(rows.Skip(1), r => Assert.Equal(("replay", "alice"), (r.ClaimReason, r.ReplayRequestedBy)));
        Assert.All(rows.Skip(1), r => Assert.NotNull(r.ReplayRequestedAt));

        // A second replay archives alice's attempt with her name; the row then holds bob's.
        await ReplaySilverAsync("bob", 3);
        Assert.All((await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None)).Skip(1), r => Assert.Equal("bob", r.ReplayRequestedBy));
        var archived = await driver.Ledger.ListReplacedAttemptsAsync(start.ExecutionId, CancellationToken.None);
        Assert.Equal(
            [("gold", 1, null), ("gold", 2, "alice"), ("silver", 1, null), ("silver", 2, "alice")],
            archived.Select(a => (a.Stage, a.Attempt, a.ReplayRequestedBy)));

        var report = await FpProcess.RunAsync(stack.OperatorVariables(pipeline), "runs", "--execution-id", id);
        Assert.True(report.ExitCode == 0, report.Stderr);
        Assert.Contains("silver: SUCCESS, attempt 3 (replay by bob)", report.Stdout, StringComparison.Ordinal);
        Assert.Contains("gold: SUCCESS, attempt 3 (replay by bob)", report.Stdout, StringComparison.Ordinal);
        Assert.Contains("attempt 2 (replay by alice), started", report.Stdout, StringComparison.Ordinal);

        // The list says who too, on the replayed stages' lines.
        var list = await FpProcess.RunAsync(stack.OperatorVariables(pipeline), "runs", "--job", start.JobName);
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Equal(2, list.Stdout.Split('\n').Count(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("replay by bob", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task ReplayOfGold_AfterATickerLeftTheJob_StillMergesEveryTickerSilverRanWith()
    {
        var (job, pipeline, driver, op, start) = await RunOneExecutionAsync();
        await using var stopPipeline = pipeline;
        var goldBefore = await GoldContentAsync(pipeline);
        var dropped = job.Tickers[^1];
        Assert.Contains(goldBefore, r => r.Contains(dropped, StringComparison.Ordinal));

        // The operator takes a ticker out of the job after silver wrote its rows, and gold's rows of it are lost.
        await new JobConfigRepository(stack.DataSource).UpsertAsync(job with { Tickers = job.Tickers.SkipLast(1).ToList() }, "tests", CancellationToken.None);
        await using (var conn = new DuckDBConnection($"Data Source={pipeline.Settings.DuckDbPath}"))
        {
            await conn.OpenAsync();
            await using var delete = conn.CreateCommand();
            delete.CommandText = "DELETE FROM financial_data_hour WHERE ticker = $ticker";
            delete.Parameters.Add(new DuckDBParameter("ticker", dropped));
            Assert.True(await delete.ExecuteNonQueryAsync() > 0);
        }

        await op.ReplayAsync(start.ExecutionId, Stage.Gold, "tests", CancellationToken.None);
        await Eventually.WaitAsync(
            async () => (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Gold, CancellationToken.None)) is { Status: "SUCCESS", Attempt: 2 },
            PipelineDriver.RunTimeout,
            "gold SUCCESS attempt 2");

        // Gold recomputes the tickers silver ran with, which its event names, not the job's list as it is now.
        Assert.Equal(goldBefore, await GoldContentAsync(pipeline));
    }

    [Fact]
    public async Task ReplayOfBronze_OfABackfill_RerunsEveryStageOnItsPinnedWindow()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var op = Operator(pipeline);
        var day = new DateTimeOffset(TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(-5), TimeSpan.Zero);
        var window = new TimeWindow(day, day.AddDays(1));
        var (start, _) = await op.PublishStartAsync(job.JobName, null, window, CancellationToken.None);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);
        var goldBefore = await GoldContentAsync(pipeline);

        var result = await op.ReplayAsync(start.ExecutionId, Stage.Bronze, "tests", CancellationToken.None);

        Assert.Equal(["bronze", "silver", "gold"], result.ResetStages);
        Assert.Equal(op.Topics.Start, result.Topic);
        await Eventually.WaitAsync(
            async () => (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Gold, CancellationToken.None)) is { Status: "SUCCESS", Attempt: 2 },
            PipelineDriver.RunTimeout,
            "gold SUCCESS attempt 2");
        var rows = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        Assert.All(rows, r => Assert.Equal(("SUCCESS", 2, "replay"), (r.Status, r.Attempt, r.ClaimReason)));
        Assert.Equal((window.Start, window.End), (rows[0].StartTime, rows[0].EndTime));
        Assert.Equal(goldBefore, await GoldContentAsync(pipeline));
        var recent = await op.Operations.RecentRunsAsync(1, job.JobName, CancellationToken.None);
        Assert.Equal("backfill", recent[0].WindowKind);
        // Only bronze records the window asked for: silver and gold follow bronze's, and a completion event's window is
        // not a request (one finer than the ledger's microseconds would fail the claim's check, on every delivery).
        await using var requested = stack.DataSource.CreateCommand("SELECT string_agg(stage, ',') FROM ingestion_job_execution WHERE execution_id = @id AND requested_start IS NOT NULL");
        requested.Parameters.AddWithValue("id", start.ExecutionId);
        Assert.Equal("bronze", await requested.ExecuteScalarAsync());
    }

    [Fact]
    public async Task ReplayOfBronze_OfABackfillThatFailedBeforePinningItsWindow_RunsTheRequestedWindow()
    {
        // Bronze fails on the job's configuration after the claim, before it plans and pins a window: only the claim
        // has seen the start message's window. Shortest retry policy: dead-lettered in seconds, no redelivery left.
        var job = await stack.CreateBrokenJobAsync();
        await using var pipeline = await stack.StartPipelineAsync(options: o => o with { RetryPolicy = StackFixture.DeadLetterRetryPolicy, AllowDeadLetterBeforeTakeover = true });
        var driver = new PipelineDriver(stack, pipeline);
        var op = Operator(pipeline);
        var alerts = new AlertNotificationStore(stack.DataSource, TimeProvider.System);
        var day = new DateTimeOffset(TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(-6), TimeSpan.Zero);
        var window = new TimeWindow(day, day.AddDays(1));
        var start = new StartMessage(Guid.NewGuid(), job, null, window);
        await driver.PublishStartAsync(start);
        await Eventually.WaitAsync(
            async () => (await alerts.ListByExecutionAsync(start.ExecutionId, CancellationToken.None)).Any(a => a.Status == "SENT"),
            PipelineDriver.RunTimeout,
            "bronze dead-lettered and alerted");
        var failed = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("FAILED", (DateTimeOffset?)null, (string?)null), (failed!.Status, failed.StartTime, failed.WindowKind));

        await using (var fix = stack.DataSource.CreateCommand("UPDATE ingestion_job_config SET bucket_name = @bucket WHERE job_name = @job"))
        {
            fix.Parameters.AddWithValue("bucket", StackFixture.UniqueName("bronze-"));
            fix.Parameters.AddWithValue("job", job);
            Assert.Equal(1, await fix.ExecuteNonQueryAsync());
        }

        var result = await op.ReplayAsync(start.ExecutionId, Stage.Bronze, "tests", CancellationToken.None);

        Assert.Equal(op.Topics.Start, result.Topic);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);
        var bronze = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("replay", window.Start, window.End, "backfill"), (bronze!.ClaimReason, bronze.StartTime, bronze.EndTime, bronze.WindowKind));
        var silver = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Silver, CancellationToken.None);
        Assert.Equal((window.Start, window.End), (silver!.StartTime, silver.EndTime));
    }

    [Fact]
    public async Task FpReplayOfBronze_OfABackfillWhoseWindowExtractWouldNowRefuse_IsRefused_AndResetsNothing()
    {
        // A backfill run with the synthetic provider 800 days back; the job then moves to Yahoo, which serves 1h bars
        // for 730 days. Reset, the rows would wait for a run Extract refuses before its claim, and fp replay said 0.
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var day = new DateTimeOffset(TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(-800), TimeSpan.Zero);
        var (start, _) = await Operator(pipeline).PublishStartAsync(job.JobName, null, new TimeWindow(day, day.AddDays(1)), CancellationToken.None);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);
        var before = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        await using (var cmd = stack.DataSource.CreateCommand("UPDATE ingestion_job_config SET provider = 'yahoo' WHERE job_name = @job"))
        {
            cmd.Parameters.AddWithValue("job", job.JobName);
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }

        var replay = await FpProcess.RunAsync(stack.OperatorVariables(pipeline), "replay", "--execution-id", start.ExecutionId.ToString("D"), "--stage", "bronze");

        Assert.Equal(1, replay.ExitCode);
        Assert.Contains("which Extract would now refuse: window.end: ", replay.Stderr, StringComparison.Ordinal);
        Assert.Contains("is older than provider yahoo serves 1h bars", replay.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None));
    }

    [Fact]
    public async Task Replay_IsRefusedWhileTheStageRuns_AndWhenTheUpstreamHasNotSucceeded()
    {
        var job = await stack.CreateJobAsync();
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, Options);
        var operations = new LedgerOperations(stack.DataSource, TimeProvider.System, Options);
        var executionId = Guid.NewGuid();
        await ledger.ClaimAsync(new ClaimRequest(executionId, Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None);

        var running = await Assert.ThrowsAsync<ReplayRefusedException>(() => operations.ResetForReplayAsync(executionId, Stage.Bronze, "tests", CancellationToken.None));
        Assert.Contains("fresh heartbeat", running.Message, StringComparison.Ordinal);
        var noUpstream = await Assert.ThrowsAsync<ReplayRefusedException>(() => operations.ResetForReplayAsync(executionId, Stage.Silver, "tests", CancellationToken.None));
        Assert.Contains("no silver row", noUpstream.Message, StringComparison.Ordinal);
        // It names where the execution stopped and the replay that does run, not "publish a start message instead".
        Assert.EndsWith($"it stopped at bronze (RUNNING): fp replay --execution-id {executionId:D} --stage bronze re-runs it from there", noUpstream.Message, StringComparison.Ordinal);
        var unknown = Guid.NewGuid();
        var none = await Assert.ThrowsAsync<ReplayRefusedException>(() => operations.ResetForReplayAsync(unknown, Stage.Bronze, "tests", CancellationToken.None));
        Assert.Equal($"execution {unknown:D} has no ledger row: nothing to replay (fp runs --execution-id {unknown:D} shows any rejected message that named it)", none.Message);
        var bronze = await ledger.GetAsync(executionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("RUNNING", 1, (string?)null), (bronze!.Status, bronze.Attempt, bronze.Error));
    }

    [Fact]
    public async Task RecentRuns_ListEachStage_AndFlagAStaleRunningRowAsZombie()
    {
        var job = await stack.CreateJobAsync();
        var now = TimeProvider.System.GetUtcNow();
        var past = new FakeTimeProvider(now - TimeSpan.FromMinutes(5));
        var stale = Guid.NewGuid();
        var fresh = Guid.NewGuid();
        await new ExecutionLedger(stack.DataSource, past, Options).ClaimAsync(new ClaimRequest(stale, Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None);
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, Options);
        var lease = (await ledger.ClaimAsync(new ClaimRequest(fresh, Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        var window = new TimeWindow(now.AddHours(-3), now);
        await ledger.CompleteAsync(lease, new StageSuccess(window, [], 7, new Dictionary<string, long>(), "{}"), CancellationToken.None);
        await ledger.ClaimAsync(new ClaimRequest(fresh, Stage.Silver, job.JobName, null, null, null, null), CancellationToken.None);

        var rows = await new LedgerOperations(stack.DataSource, TimeProvider.System, Options).RecentRunsAsync(10, job.JobName, CancellationToken.None);

        Assert.Equal([fresh, fresh, stale], rows.Select(r => r.ExecutionId));
        Assert.Equal(["bronze", "silver", "bronze"], rows.Select(r => r.Stage));
        Assert.Equal((7L, "SUCCESS"), (rows[0].Records, rows[0].Status));
        var checkedAt = TimeProvider.System.GetUtcNow();
        Assert.Equal([false, false, true], rows.Select(r => r.IsZombie(checkedAt, Options.StaleAfter)));
        Assert.NotNull(rows[0].Duration(checkedAt));
    }

    [Fact]
    public async Task RecentRuns_OrderExecutionsByTheirNewestRow_WhenAnOlderExecutionGotTheNewestRow()
    {
        // RecentRunsAsync reads only the limit × 3 newest rows (one per stage at most): an execution whose newest row
        // is the ledger's newest comes first even though its bronze is the oldest.
        var job = await stack.CreateJobAsync();
        var t0 = TimeProvider.System.GetUtcNow().AddHours(-1);
        var (a, b, c) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        async Task ClaimAt(Guid id, Stage stage, int minute) =>
            await new ExecutionLedger(stack.DataSource, new FakeTimeProvider(t0.AddMinutes(minute)), Options)
                .ClaimAsync(new ClaimRequest(id, stage, job.JobName, null, null, null, null), CancellationToken.None);
        await ClaimAt(a, Stage.Bronze, 0);
        await ClaimAt(b, Stage.Bronze, 1);
        await ClaimAt(c, Stage.Bronze, 2);
        await ClaimAt(a, Stage.Silver, 3);
        var operations = new LedgerOperations(stack.DataSource, TimeProvider.System, Options);

        async Task<Guid[]> Recent(int limit) => [.. (await operations.RecentRunsAsync(limit, job.JobName, CancellationToken.None)).Select(r => r.ExecutionId)];

        Assert.Equal([a, a], await Recent(1));
        Assert.Equal([a, a, c], await Recent(2));
        Assert.Equal([a, a, c, b], await Recent(3));
        Assert.Equal([a, a, c, b], await Recent(50));
    }

    [Fact]
    public async Task BackfillOfTenDays_IsResumableAfterAnInterruption_AndLeavesNoDuplicate()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var op = Operator(pipeline);
        var finalFailures = new FinalFailures(new RejectedMessageStore(stack.DataSource), new AlertNotificationStore(stack.DataSource, TimeProvider.System));
        var today = TimeProvider.System.GetUtcNow().UtcDateTime.Date;
        var from = new DateTimeOffset(today.AddDays(-14), TimeSpan.Zero);
        var windows = Backfill.Split(job, new SyntheticQuoteProvider(), from, from.AddDays(10), windowDays: 2);
        Assert.Equal(5, windows.Count);
        var options = new BackfillOptions { MaxInFlight = 2, WindowTimeout = PipelineDriver.RunTimeout };

        // First run: interrupted as soon as one window has completed.
        using (var interrupt = new CancellationTokenSource())
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Backfill.RunAsync(
                op, finalFailures, job.JobName, windows, options with { MaxInFlight = 1 }, r => interrupt.Cancel(), interrupt.Token));
        }

        var second = await Backfill.RunAsync(op, finalFailures, job.JobName, windows, options, null, CancellationToken.None);

        Assert.All(second, r => Assert.NotEqual(BackfillWindowState.Failed, r.State));
        Assert.Equal(BackfillWindowState.Skipped, second[0].State);
        Assert.Contains(second, r => r.State == BackfillWindowState.Succeeded);
        Assert.Equal(5, second.Select(r => r.ExecutionId).Distinct().Count());
        foreach (var r in second)
        {
            var rows = await op.Ledger.ListAsync(r.ExecutionId, CancellationToken.None);
            Assert.Equal(3, rows.Count);
            Assert.All(rows, row => Assert.Equal(("SUCCESS", 1), (row.Status, row.Attempt)));
            Assert.Equal((r.Window.Start, r.Window.End), (rows[0].StartTime, rows[0].EndTime));
        }

        var third = await Backfill.RunAsync(op, finalFailures, job.JobName, windows, options, null, CancellationToken.None);
        Assert.All(third, r => Assert.Equal(BackfillWindowState.Skipped, r.State));

        await using var duck = new DuckDBConnection("Data Source=:memory:");
        await duck.OpenAsync();
        var silverGlob = Path.Combine(pipeline.Settings.BucketsRoot, job.SilverBucketName, ObjectLayout.Dataset, "date=*", "*.parquet");
        var (silverRows, silverKeys, silverHours) = await ScalarsAsync(duck, $"""
            SELECT count(*), count(DISTINCT (ticker, bar_ts)), count(DISTINCT (ticker, date_trunc('hour', bar_ts)))
            FROM read_parquet('{silverGlob}')
            """);
        Assert.True(silverRows > 0, "the backfill wrote no silver rows");
        Assert.Equal(silverKeys, silverRows);
        var (goldRows, goldKeys, _) = await ScalarsAsync(duck, $"""
            ATTACH '{pipeline.Settings.DuckDbPath}' AS gold (READ_ONLY);
            SELECT count(*), count(DISTINCT (ticker, "hour")), 0 FROM gold.financial_data_hour
            """);
        Assert.Equal(goldKeys, goldRows);
        Assert.Equal(silverHours, goldRows);
    }

    [Fact]
    public async Task Backfill_StopsWaitingOnAWindowWhoseStartMessageWasRejected()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var today = new DateTimeOffset(TimeProvider.System.GetUtcNow().UtcDateTime.Date, TimeSpan.Zero);
        // The first window runs (clamped to the last completed bar); the second has none, so Extract rejects it. It starts
        // a day clear of now, so that holds for a run crossing UTC midnight too.
        var windows = Backfill.Split(job, new SyntheticQuoteProvider(), today.AddDays(-1), today.AddDays(5), windowDays: 3);
        Assert.Equal(2, windows.Count);

        var results = await RunBoundedAsync(pipeline, job.JobName, windows);

        Assert.Equal(BackfillWindowState.Succeeded, results[0].State);
        Assert.Equal(BackfillWindowState.Failed, results[1].State);
        Assert.StartsWith("extract rejected the message: window.start: ", results[1].Reason, StringComparison.Ordinal);
        Assert.Empty(await Operator(pipeline).Ledger.ListAsync(results[1].ExecutionId, CancellationToken.None));
    }

    [Fact]
    public async Task Backfill_StopsWaitingOnAWindowWhoseStageWasDeadLettered()
    {
        var job = await stack.CreateBrokenJobAsync();
        // The shortest retry policy the emulator honours: five deliveries, then the dead letter, within seconds.
        await using var pipeline = await stack.StartPipelineAsync(options: o => o with { RetryPolicy = StackFixture.DeadLetterRetryPolicy, AllowDeadLetterBeforeTakeover = true });
        var day = new DateTimeOffset(TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(-3), TimeSpan.Zero);

        var result = Assert.Single(await RunBoundedAsync(pipeline, job, [new TimeWindow(day, day.AddDays(1))]));

        Assert.Equal(BackfillWindowState.Failed, result.State);
        Assert.StartsWith("bronze failed on every delivery and was dead-lettered: ", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void BackfillWindows_AreDayAligned_CappedByTheProvider_AndTheirIdsStable()
    {
        var job = JobConfig.Create("job_split", "AAPL", 3600, 10800, "bronze-split", "silver-split", "yahoo", "1m", 86400, true);
        var from = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        using var services = new ServiceCollection().AddQuoteProviders(new PipelineSettings { PostgresConnection = "Host=unused" }).BuildServiceProvider();
        var providers = services.GetServices<IQuoteProvider>().ToList();
        var yahoo = QuoteProviders.For(providers, job);

        var windows = Backfill.Split(job, yahoo, from, from.AddDays(10), windowDays: 30);

        // Yahoo serves 1m bars 7 days per request; the synthetic provider has no request span.
        Assert.Equal([(from, from.AddDays(7)), (from.AddDays(7), from.AddDays(10))], windows.Select(w => (w.Start, w.End)));
        Assert.Single(Backfill.Split(job, new SyntheticQuoteProvider(), from, from.AddDays(10), windowDays: 30));
        Assert.Equal("provider", Assert.Throws<JobConfigException>(() => QuoteProviders.For(providers, job with { Provider = "bloomberg" })).Column);
        // The names a config row may use are exactly the providers registered: a row the rules accept always runs.
        Assert.Equal(ProviderNames.All.Order(), providers.Select(p => p.Name).Order());
        Assert.Equal(Backfill.ExecutionId("job_split", windows[0]), Backfill.ExecutionId("job_split", windows[0]));
        Assert.NotEqual(Backfill.ExecutionId("job_split", windows[0]), Backfill.ExecutionId("job_split", windows[1]));
        Assert.NotEqual(Backfill.ExecutionId("job_split", windows[0]), Backfill.ExecutionId("job_other", windows[0]));
        Assert.Throws<ArgumentException>(() => Backfill.Split(job, yahoo, from.AddHours(1), from.AddDays(2), 1));
        Assert.Throws<ArgumentException>(() => Backfill.Split(job, yahoo, from, from, 1));
    }

    /// <summary>
    /// A backfill whose waits only a rejection or a dead letter can end early: its window timeout and its grace for a
    /// FAILED stage are ten minutes, the test's limit 45 s.
    /// </summary>
    private async Task<IReadOnlyList<BackfillWindowResult>> RunBoundedAsync(LocalPipeline pipeline, string jobName, IReadOnlyList<TimeWindow> windows)
    {
        var options = new BackfillOptions { MaxInFlight = 2, WindowTimeout = TimeSpan.FromMinutes(10), FailedGrace = TimeSpan.FromMinutes(10) };
        var finalFailures = new FinalFailures(new RejectedMessageStore(stack.DataSource), new AlertNotificationStore(stack.DataSource, TimeProvider.System));
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        try
        {
            return await Backfill.RunAsync(Operator(pipeline), finalFailures, jobName, windows, options, null, limit.Token);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            throw new TimeoutException("the backfill was still waiting after 45 s: the rejection or dead letter did not end its wait");
        }
    }

    /// <summary>A new job, a pipeline (the caller disposes it) and one incremental execution of it to gold SUCCESS.</summary>
    private async Task<(JobConfig Job, LocalPipeline Pipeline, PipelineDriver Driver, PipelineOperator Op, StartMessage Start)> RunOneExecutionAsync()
    {
        var job = await stack.CreateJobAsync();
        var pipeline = await stack.StartPipelineAsync();
        try
        {
            var driver = new PipelineDriver(stack, pipeline);
            var op = Operator(pipeline);
            var (start, _) = await op.PublishStartAsync(job.JobName, null, null, CancellationToken.None);
            await driver.WaitForGoldSuccessAsync(start.ExecutionId);
            return (job, pipeline, driver, op, start);
        }
        catch
        {
            await pipeline.DisposeAsync();
            throw;
        }
    }

    private PipelineOperator Operator(LocalPipeline pipeline) => new(
        new ExecutionLedger(stack.DataSource, TimeProvider.System, Options),
        new LedgerOperations(stack.DataSource, TimeProvider.System, Options),
        pipeline.PubSub,
        new StageTopics(pipeline.Settings.TopicPrefix),
        TimeProvider.System);

    private static async Task<(long, long, long)> ScalarsAsync(DuckDBConnection duck, string sql)
    {
        await using var cmd = duck.CreateCommand();
        cmd.CommandText = sql;
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture), Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture));
    }

    /// <summary>Every silver object's path, size, write time and hash.</summary>
    private static List<string> SilverFiles(LocalPipeline pipeline, JobConfig job)
    {
        var root = Path.Combine(pipeline.Settings.BucketsRoot, job.SilverBucketName);
        return Directory.GetFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(root, f)} {new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f):O} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))}")
            .ToList();
    }

    private static async Task<List<string>> SilverContentAsync(LocalPipeline pipeline, JobConfig job)
    {
        var glob = Path.Combine(pipeline.Settings.BucketsRoot, job.SilverBucketName, ObjectLayout.Dataset, "date=*", "*.parquet");
        return await RowsAsync("Data Source=:memory:", $"SELECT * FROM read_parquet('{glob}') ORDER BY ALL");
    }

    private static Task<List<string>> GoldContentAsync(LocalPipeline pipeline) =>
        RowsAsync($"Data Source={pipeline.Settings.DuckDbPath};ACCESS_MODE=READ_ONLY", "SELECT * EXCLUDE (updated_at) FROM financial_data_hour ORDER BY ALL");

    private static async Task<List<string>> RowsAsync(string connection, string sql)
    {
        await using var conn = new DuckDBConnection(connection);
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))));
        }

        Assert.NotEmpty(rows);
        return rows;
    }

    /// <summary>The gcloud CLI: CLOUDSDK_ROOT_DIR/bin/gcloud, else on PATH. Its absence fails the test (CI has it).</summary>
    private static string FindGcloud()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("CLOUDSDK_ROOT_DIR") is { Length: > 0 } root)
        {
            candidates.Add(Path.Combine(root, "bin", "gcloud"));
        }

        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "gcloud")));
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("the gcloud CLI was not found (CLOUDSDK_ROOT_DIR/bin/gcloud or on PATH): install google-cloud-cli; this test drives the real CLI against the emulator");
    }

    /// <summary>
    /// <c>gcloud pubsub topics publish</c> exactly as an operator would, pointed at the emulator, with a throwaway
    /// config directory (the user's gcloud configuration is untouched) and no credentials.
    /// </summary>
    private static async Task RunGcloudAsync(string gcloud, LocalPipeline pipeline, string message)
    {
        var config = Directory.CreateTempSubdirectory("fp-gcloud-");
        try
        {
            var psi = new ProcessStartInfo(gcloud)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "pubsub", "topics", "publish", pipeline.Topology.StartTopic, "--message=" + message, "--project=" + pipeline.Topology.ProjectId })
            {
                psi.ArgumentList.Add(arg);
            }

            psi.Environment["CLOUDSDK_CONFIG"] = config.FullName;
            psi.Environment["CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB"] = $"http://{pipeline.Infrastructure.EmulatorHost}/";
            psi.Environment["CLOUDSDK_AUTH_DISABLE_CREDENTIALS"] = "true";
            psi.Environment["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1";
            psi.Environment.Remove("PUBSUB_EMULATOR_HOST");
            using var process = Process.Start(psi)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"gcloud exited {process.ExitCode}: {await stderr}");
            Assert.Contains("messageIds", await stdout, StringComparison.Ordinal);
        }
        finally
        {
            config.Delete(recursive: true);
        }
    }
}
