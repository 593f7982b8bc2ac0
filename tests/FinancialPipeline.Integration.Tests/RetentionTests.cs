using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Deploy;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <see cref="LedgerRetention"/> and <c>fp prune</c> on a database of their own: what goes (whole executions untouched
/// since the cutoff, their replaced attempts, old rejections and alerts), what stays (anything recent or RUNNING, and
/// each job's newest incremental bronze run, which the next hourly window starts from).
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class RetentionTests(StackFixture stack)
{
    private static readonly LedgerOptions Options = new() { StaleAfter = TimeSpan.FromSeconds(60), HeartbeatInterval = TimeSpan.FromSeconds(10) };
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan EightDays = TimeSpan.FromDays(8);

    [Fact]
    public async Task Prune_DeletesWholeExecutionsUntouchedSinceTheCutoff_AndKeepsEachJobsNewestIncrementalBronze()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        var seeded = await SeedAsync(dataSource);
        var ledger = new ExecutionLedger(dataSource, TimeProvider.System, Options);
        var nextWindowBefore = await ledger.LastSuccessfulWindowAsync("job_a", Stage.Bronze, Guid.NewGuid(), CancellationToken.None);
        var retention = new LedgerRetention(dataSource, new FakeTimeProvider(Now));
        var tablesBefore = await TableCountsAsync(dataSource);

        var plan = await retention.PlanAsync(EightDays, CancellationToken.None);
        Assert.Equal(Now - EightDays, plan.Cutoff);
        Assert.Equal(seeded.OnlyOldCounts, Counts(plan));
        Assert.Equal([("job_a", seeded.NewestIncrementalA), ("job_b", seeded.NewestIncrementalB)], plan.Kept.Select(k => (k.JobName, k.ExecutionId)));
        Assert.Equal(tablesBefore, await TableCountsAsync(dataSource));

        var pruned = await retention.PruneAsync(EightDays, CancellationToken.None, batchSize: 2);

        Assert.Equal(Counts(plan), Counts(pruned));
        Assert.Equal(seeded.Remaining.Order(), (await ExecutionIdsAsync(dataSource)).Order());
        Assert.Equal(nextWindowBefore, await ledger.LastSuccessfulWindowAsync("job_a", Stage.Bronze, Guid.NewGuid(), CancellationToken.None));
        Assert.Equal(
            [(seeded.RecentRetry, "silver", 1)],
            await ReadAsync(dataSource, "SELECT execution_id, stage, attempt FROM ingestion_job_attempt", r => (r.GetGuid(0), r.GetString(1), r.GetInt32(2))));
        Assert.Equal(["old-kept", "recent"], (await ReadAsync(dataSource, "SELECT field FROM rejected_message", r => r.GetString(0))).Order());
        Assert.Equal(["old-alert-kept", "recent-alert"], (await ReadAsync(dataSource, "SELECT dedupe_key FROM alert_notification", r => r.GetString(0))).Order());

        var again = await retention.PruneAsync(EightDays, CancellationToken.None);
        Assert.Equal((0L, 0L, 0L, 0L, 0L), Counts(again));
        Assert.Equal(TimeSpan.FromDays(DeploymentSettings.MinBronzeRetentionDays), LedgerRetention.MinAge);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => retention.PruneAsync(EightDays - TimeSpan.FromSeconds(1), CancellationToken.None));
    }

    [Fact]
    public async Task Prune_RemovesAttemptsLeftWithoutTheirExecution()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        await using (var orphan = dataSource.CreateCommand("""
            INSERT INTO ingestion_job_attempt (execution_id, stage, attempt, status, claim_reason, started_at, heartbeat_at, replaced_by, replaced_at)
            VALUES (gen_random_uuid(), 'bronze', 1, 'FAILED', 'new', @old, @old, 'retry', @old),
                   (gen_random_uuid(), 'bronze', 1, 'FAILED', 'new', @recent, @recent, 'retry', @recent)
            """))
        {
            orphan.Parameters.AddWithValue("old", Now.AddDays(-30));
            orphan.Parameters.AddWithValue("recent", Now.AddDays(-1));
            await orphan.ExecuteNonQueryAsync();
        }

        var retention = new LedgerRetention(dataSource, new FakeTimeProvider(Now));
        Assert.Equal(1, (await retention.PlanAsync(EightDays, CancellationToken.None)).Attempts);
        Assert.Equal(1, (await retention.PruneAsync(EightDays, CancellationToken.None)).Attempts);
        Assert.Single(await ReadAsync(dataSource, "SELECT replaced_at FROM ingestion_job_attempt", r => r.GetFieldValue<DateTimeOffset>(0)), Now.AddDays(-1));
    }

    [Fact]
    public async Task Prune_LeavesTheRecordOfRestatedSplits_WhenTheExecutionThatRecordedItGoes()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        var recorder = Guid.NewGuid();
        var split = new RestatedSplit("AAPL", Now.AddDays(-31), 4, 1, 120, true);
        await CompleteAsync(dataSource, recorder, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: true, splits: [split]);

        var pruned = await new LedgerRetention(dataSource, new FakeTimeProvider(Now)).PruneAsync(EightDays, CancellationToken.None);

        // The execution goes; the record that the split is restated stays, or the next run seeing it would scan silver again.
        Assert.Equal((1L, 1L), (pruned.Executions, pruned.LedgerRows));
        Assert.Empty(await ExecutionIdsAsync(dataSource));
        var row = Assert.Single(await new ExecutionLedger(dataSource, TimeProvider.System, Options).RestatedSplitsAsync("job_a", ["AAPL"], CancellationToken.None));
        Assert.Equal((split, recorder), (row.Split, row.RestatedBy));
    }

    [Fact]
    public async Task Prune_KeepsAnExecutionAReplayResetWhileThePruneWaitedForItsLock()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        var (replayed, other) = (Guid.NewGuid(), Guid.NewGuid());
        await CompleteAsync(dataSource, replayed, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: true);
        await CompleteAsync(dataSource, other, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: true);

        // A replay's reset in flight: it holds the execution's replay lock while it rewrites the rows.
        var result = await PruneWhileAnotherTransactionRunsAsync(
            dataSource,
            before: ("SELECT pg_advisory_xact_lock(@key)", LedgerOperations.ReplayLockKey(replayed)),
            during: ("UPDATE ingestion_job_execution SET status = 'FAILED', updated_at = @now WHERE execution_id = @id", replayed));

        // The other execution of the batch went; the reset one stays, its rows written after the cutoff.
        Assert.Equal((1L, 1L), (result.Executions, result.LedgerRows));
        Assert.Equal([replayed], await ExecutionIdsAsync(dataSource));
    }

    [Fact]
    public async Task Prune_KeepsAnExecutionWhoseRowAClaimInFlightRewrites_NotJustThatRow()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        var id = Guid.NewGuid();
        await CompleteAsync(dataSource, id, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: true);
        await FailAsync(dataSource, id, Stage.Silver, "job_a", Now.AddDays(-30));

        // The silver retry's claim, not yet committed: it holds the row the prune's delete must not judge by its old version.
        var result = await PruneWhileAnotherTransactionRunsAsync(
            dataSource,
            before: ("UPDATE ingestion_job_execution SET status = 'RUNNING', updated_at = @now WHERE execution_id = @id AND stage = 'silver'", id),
            during: null);

        Assert.Equal((0L, 0L), (result.Executions, result.LedgerRows));
        Assert.Equal(["bronze", "silver"], (await ReadAsync(dataSource, "SELECT stage FROM ingestion_job_execution", r => r.GetString(0))).Order());
    }

    [Fact]
    public async Task AReEmit_TouchesTheSucceededRow_SoAPruneMeanwhileKeepsTheExecution()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        var id = Guid.NewGuid();
        await CompleteAsync(dataSource, id, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: true);

        // A backfill rerun republishes the start message: Extract finds bronze SUCCESS and re-emits its stored event.
        var reEmit = await new ExecutionLedger(dataSource, new FakeTimeProvider(Now), Options)
            .ClaimAsync(new ClaimRequest(id, Stage.Bronze, "job_a", null, null, null, null), CancellationToken.None);
        Assert.Equal((ClaimOutcome.AlreadySucceeded, "{}"), (reEmit.Outcome, reEmit.CompletionJson));

        var result = await new LedgerRetention(dataSource, new FakeTimeProvider(Now)).PruneAsync(EightDays, CancellationToken.None);

        Assert.Equal(0L, result.Executions);
        Assert.Equal([id], await ExecutionIdsAsync(dataSource));
    }

    [Fact]
    public async Task FpPrune_CountsWithoutApply_DeletesWithIt_AndRefusesACutoffInsidePubSubsRetention()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        // An execution a year old: whatever the day the test runs, it is past the cutoff.
        var old = Guid.NewGuid();
        var ledger = new ExecutionLedger(dataSource, new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddDays(-365)), Options);
        var lease = (await ledger.ClaimAsync(new ClaimRequest(old, Stage.Silver, "job_a", null, null, null, null), CancellationToken.None)).Lease!;
        await ledger.FailAsync(lease, "boom", CancellationToken.None);
        var env = stack.OperatorVariables("fp-");
        env["FP_POSTGRES_CONNECTION"] = database.ConnectionString;

        var tooSoon = await FpProcess.RunAsync(env, "prune", "--older-than-days", "7");
        var tooFar = await FpProcess.RunAsync(env, "prune", "--older-than-days", "36501");
        var missing = await FpProcess.RunAsync(env, "prune");
        Assert.Equal((2, "fp: --older-than-days must be at least 8, got 7\nfp prune --help lists the options\n"), (tooSoon.ExitCode, tooSoon.Stderr));
        Assert.Equal((2, "fp: --older-than-days '36501' must be at most 36500\nfp prune --help lists the options\n"), (tooFar.ExitCode, tooFar.Stderr));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--older-than-days", missing.Stderr, StringComparison.Ordinal);

        var dryRun = await FpProcess.RunAsync(env, "prune", "--older-than-days", "30");
        Assert.Equal((0, string.Empty), (dryRun.ExitCode, dryRun.Stderr));
        Assert.Contains("│ table                   │ would delete ", dryRun.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 rows (1 executions)", dryRun.Stdout, StringComparison.Ordinal);
        Assert.Contains("dry run: nothing deleted", dryRun.Stdout, StringComparison.Ordinal);
        Assert.Equal([old], await ExecutionIdsAsync(dataSource));

        var applied = await FpProcess.RunAsync(env, "prune", "--older-than-days", "30", "--apply");
        Assert.Equal((0, string.Empty), (applied.ExitCode, applied.Stderr));
        Assert.Contains("│ table                   │ deleted ", applied.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("dry run", applied.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 rows (1 executions)", applied.Stdout, StringComparison.Ordinal);
        Assert.Empty(await ExecutionIdsAsync(dataSource));
    }

    /// <summary>
    /// Another transaction runs <paramref name="before"/>, a prune starts and is seen blocked by that transaction (its
    /// backend waits on a lock the transaction holds), the transaction runs <paramref name="during"/> and commits; then
    /// the prune's result. A statement's one argument is <c>@key</c> when a number, else <c>@id</c>; <c>@now</c> is the
    /// test's now.
    /// </summary>
    private static async Task<PruneResult> PruneWhileAnotherTransactionRunsAsync(NpgsqlDataSource dataSource, (string Sql, object Arg) before, (string Sql, object Arg)? during)
    {
        await using var conn = await dataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        async Task Run((string Sql, object Arg) statement)
        {
            await using var cmd = new NpgsqlCommand(statement.Sql, conn, tx);
            cmd.Parameters.AddWithValue(statement.Arg is long ? "key" : "id", statement.Arg);
            cmd.Parameters.AddWithValue("now", Now);
            await cmd.ExecuteNonQueryAsync();
        }

        await Run(before);
        var prune = new LedgerRetention(dataSource, new FakeTimeProvider(Now)).PruneAsync(EightDays, CancellationToken.None);
        // Was: a 500 ms sleep, after which a slow machine could run `during` before the prune had even reached the lock,
        // testing a plain sequence instead of the race.
        await Eventually.WaitAsync(
            async () =>
            {
                Assert.False(prune.IsCompleted, prune.Exception?.ToString() ?? "the prune did not wait for the other transaction");
                await using var blocked = dataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE @tx = ANY(pg_blocking_pids(pid)))");
                blocked.Parameters.AddWithValue("tx", conn.ProcessID);
                return await blocked.ExecuteScalarAsync() is true;
            },
            TimeSpan.FromSeconds(60),
            "the prune blocked by the other transaction");
        if (during is { } statement)
        {
            await Run(statement);
        }

        await tx.CommitAsync();
        return await prune;
    }

    private static (long, long, long, long, long) Counts(PruneResult r) => (r.Executions, r.LedgerRows, r.Attempts, r.RejectedMessages, r.Alerts);

    private static async Task<(long, long, long, long)> TableCountsAsync(NpgsqlDataSource dataSource)
    {
        async Task<long> Count(string table) => (await ReadAsync(dataSource, $"SELECT count(*) FROM {table}", r => r.GetInt64(0)))[0];
        return (await Count("ingestion_job_execution"), await Count("ingestion_job_attempt"), await Count("rejected_message"), await Count("alert_notification"));
    }

    private static async Task<NpgsqlDataSource> MigratedAsync(ScratchDatabase database)
    {
        await new ControlDbMigrator(database.ConnectionString, NullLogger<ControlDbMigrator>.Instance).MigrateAsync();
        return ControlDbDataSource.Create(database.ConnectionString);
    }

    private sealed record Seeded(
        IReadOnlyList<Guid> All, IReadOnlyList<Guid> Remaining, Guid NewestIncrementalA, Guid NewestIncrementalB, Guid RecentRetry, (long, long, long, long, long) OnlyOldCounts);

    /// <summary>
    /// job_a: A (30 days old, all three stages, gold retried once), B (20 days, its newest incremental bronze),
    /// C (15 days, a backfill whose window ends after B's: it does not continue the chain), H (12 days, an incremental
    /// bronze that FAILED after pinning a window ending after B's: only a success continues it), D (bronze 30 days old,
    /// silver retried 2 days ago), E (bronze RUNNING since 40 days: a zombie is never pruned); job_b: G (26 days,
    /// incremental) and F (25 days, its newest bronze, with no window kind: a row from before migration 0003 counts as
    /// incremental). Rejections and alerts on each side of the cutoff, of a pruned and of a kept execution.
    /// </summary>
    private static async Task<Seeded> SeedAsync(NpgsqlDataSource dataSource)
    {
        var (a, b, c, d, e, f, g, h) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await CompleteAsync(dataSource, a, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: false);
        await CompleteAsync(dataSource, a, Stage.Silver, "job_a", Now.AddDays(-30), backfill: null);
        await FailAsync(dataSource, a, Stage.Gold, "job_a", Now.AddDays(-30));
        await CompleteAsync(dataSource, a, Stage.Gold, "job_a", Now.AddDays(-30).AddMinutes(5), backfill: null);
        await CompleteAsync(dataSource, b, Stage.Bronze, "job_a", Now.AddDays(-20), backfill: false);
        await CompleteAsync(dataSource, c, Stage.Bronze, "job_a", Now.AddDays(-15), backfill: true, windowEnd: Now.AddDays(-10));
        await FailAsync(dataSource, h, Stage.Bronze, "job_a", Now.AddDays(-12), pinWindowEnd: Now.AddDays(-12));
        await CompleteAsync(dataSource, d, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: true);
        await FailAsync(dataSource, d, Stage.Silver, "job_a", Now.AddDays(-30));
        await CompleteAsync(dataSource, d, Stage.Silver, "job_a", Now.AddDays(-2), backfill: null);
        await new ExecutionLedger(dataSource, new FakeTimeProvider(Now.AddDays(-40)), Options)
            .ClaimAsync(new ClaimRequest(e, Stage.Bronze, "job_a", null, null, null, null), CancellationToken.None);
        await CompleteAsync(dataSource, g, Stage.Bronze, "job_b", Now.AddDays(-26), backfill: false);
        await CompleteAsync(dataSource, f, Stage.Bronze, "job_b", Now.AddDays(-25), backfill: null);

        var rejected = new RejectedMessageStore(dataSource);
        foreach (var (field, at, execution) in new[]
        {
            ("old", Now.AddDays(-9), a.ToString("D")), ("old-garbage", Now.AddDays(-9), "not-a-uuid"),
            ("old-brace", Now.AddDays(-9), "{" + a.ToString("N")), ("old-closing-brace", Now.AddDays(-9), a.ToString("N") + "}"),
            ("old-kept", Now.AddDays(-9), b.ToString("D").ToUpperInvariant()), ("recent", Now.AddDays(-1), a.ToString("D")),
        })
        {
            await rejected.InsertAsync("extract", "m-" + field, null, null, execution, field, "test", "{}"u8.ToArray(), new Dictionary<string, string>(), at, CancellationToken.None);
        }

        foreach (var (key, at, execution) in new[] { ("old-alert", Now.AddDays(-30), a), ("old-alert-kept", Now.AddDays(-30), b), ("recent-alert", Now.AddDays(-1), a) })
        {
            var alerts = new AlertNotificationStore(dataSource, new FakeTimeProvider(at));
            var claim = await alerts.ClaimAsync(new AlertNotification(key, "zombie_takeover", execution, "gold", "text"), CancellationToken.None);
            await alerts.MarkSentAsync(key, claim.ClaimToken, "log", CancellationToken.None);
        }

        // A: 3 rows and the gold attempt it replaced; C, G and H: one row each; the old rejections of A and of no
        // execution (text PostgreSQL would refuse to cast included); A's old alert.
        return new Seeded([a, b, c, d, e, f, g, h], [b, d, e, f], b, f, d, (4, 6, 1, 4, 1));
    }

    private static async Task CompleteAsync(NpgsqlDataSource dataSource, Guid id, Stage stage, string job, DateTimeOffset at, bool? backfill, DateTimeOffset? windowEnd = null, IReadOnlyList<RestatedSplit>? splits = null)
    {
        var ledger = new ExecutionLedger(dataSource, new FakeTimeProvider(at), Options);
        var lease = (await ledger.ClaimAsync(new ClaimRequest(id, stage, job, null, null, null, null), CancellationToken.None)).Lease!;
        var end = windowEnd ?? at;
        var window = await ledger.PinWindowAsync(lease, new TimeWindow(end.AddHours(-3), end), CancellationToken.None, backfill);
        Assert.True(await ledger.CompleteAsync(lease, new StageSuccess(window, [], 1, new Dictionary<string, long>(), "{}") { RestatedSplits = splits ?? [] }, CancellationToken.None));
    }

    private static async Task FailAsync(NpgsqlDataSource dataSource, Guid id, Stage stage, string job, DateTimeOffset at, DateTimeOffset? pinWindowEnd = null)
    {
        var ledger = new ExecutionLedger(dataSource, new FakeTimeProvider(at), Options);
        var lease = (await ledger.ClaimAsync(new ClaimRequest(id, stage, job, null, null, null, null), CancellationToken.None)).Lease!;
        if (pinWindowEnd is { } end)
        {
            await ledger.PinWindowAsync(lease, new TimeWindow(end.AddHours(-3), end), CancellationToken.None, backfill: false);
        }

        Assert.True(await ledger.FailAsync(lease, "boom", CancellationToken.None));
    }

    private static Task<List<Guid>> ExecutionIdsAsync(NpgsqlDataSource dataSource) =>
        ReadAsync(dataSource, "SELECT DISTINCT execution_id FROM ingestion_job_execution", r => r.GetGuid(0));

    private static async Task<List<T>> ReadAsync<T>(NpgsqlDataSource dataSource, string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(read(reader));
        }

        return rows;
    }
}
