using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
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
    private static readonly DateTimeOffset Cutoff = Now.AddDays(-8);

    [Fact]
    public async Task Prune_DeletesWholeExecutionsUntouchedSinceTheCutoff_AndKeepsEachJobsNewestIncrementalBronze()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_prune_");
        await using var dataSource = await MigratedAsync(database);
        var seeded = await SeedAsync(dataSource);
        var ledger = new ExecutionLedger(dataSource, TimeProvider.System, Options);
        var nextWindowBefore = await ledger.LastSuccessfulWindowAsync("job_a", Stage.Bronze, Guid.NewGuid(), CancellationToken.None);
        var retention = new LedgerRetention(dataSource);

        var plan = await retention.PlanAsync(Cutoff, CancellationToken.None);
        Assert.Equal(Counts(seeded.OnlyOldCounts), Counts(plan));
        Assert.Equal([("job_a", seeded.NewestIncrementalA), ("job_b", seeded.NewestIncrementalB)], plan.Kept.Select(k => (k.JobName, k.ExecutionId)));
        Assert.Equal(seeded.All.Count, (await ExecutionIdsAsync(dataSource)).Count);

        var pruned = await retention.PruneAsync(Cutoff, CancellationToken.None, batchSize: 2);

        Assert.Equal(Counts(plan), Counts(pruned));
        Assert.Equal(seeded.Remaining.Order(), (await ExecutionIdsAsync(dataSource)).Order());
        Assert.Equal(nextWindowBefore, await ledger.LastSuccessfulWindowAsync("job_a", Stage.Bronze, Guid.NewGuid(), CancellationToken.None));
        Assert.Equal(
            [(seeded.RecentRetry, "silver", 1)],
            await ReadAsync(dataSource, "SELECT execution_id, stage, attempt FROM ingestion_job_attempt", r => (r.GetGuid(0), r.GetString(1), r.GetInt32(2))));
        Assert.Equal(["recent"], await ReadAsync(dataSource, "SELECT field FROM rejected_message", r => r.GetString(0)));
        Assert.Equal(["recent-alert"], await ReadAsync(dataSource, "SELECT dedupe_key FROM alert_notification", r => r.GetString(0)));

        var again = await retention.PruneAsync(Cutoff, CancellationToken.None);
        Assert.Equal((0L, 0L, 0L, 0L, 0L), Counts(again));
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

        var retention = new LedgerRetention(dataSource);
        Assert.Equal(1, (await retention.PlanAsync(Cutoff, CancellationToken.None)).Attempts);
        Assert.Equal(1, (await retention.PruneAsync(Cutoff, CancellationToken.None)).Attempts);
        Assert.Single(await ReadAsync(dataSource, "SELECT replaced_at FROM ingestion_job_attempt", r => r.GetFieldValue<DateTimeOffset>(0)), Now.AddDays(-1));
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
        await using var conn = await dataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", conn, tx))
        {
            hold.Parameters.AddWithValue("key", LedgerOperations.ReplayLockKey(replayed));
            await hold.ExecuteNonQueryAsync();
        }

        var prune = new LedgerRetention(dataSource).PruneAsync(Cutoff, CancellationToken.None);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.False(prune.IsCompleted);
        await using (var reset = new NpgsqlCommand("UPDATE ingestion_job_execution SET status = 'FAILED', updated_at = @now WHERE execution_id = @id", conn, tx))
        {
            reset.Parameters.AddWithValue("now", Now);
            reset.Parameters.AddWithValue("id", replayed);
            await reset.ExecuteNonQueryAsync();
        }

        await tx.CommitAsync();
        var result = await prune;

        // The other execution of the batch went; the reset one stays, its rows written after the cutoff.
        Assert.Equal((1L, 1L), (result.Executions, result.LedgerRows));
        Assert.Equal([replayed], await ExecutionIdsAsync(dataSource));
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
        Assert.Contains("would delete", dryRun.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 rows (1 executions)", dryRun.Stdout, StringComparison.Ordinal);
        Assert.Contains("dry run: nothing deleted", dryRun.Stdout, StringComparison.Ordinal);
        Assert.Equal([old], await ExecutionIdsAsync(dataSource));

        var applied = await FpProcess.RunAsync(env, "prune", "--older-than-days", "30", "--apply");
        Assert.Equal((0, string.Empty), (applied.ExitCode, applied.Stderr));
        Assert.Contains("deleted", applied.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 rows (1 executions)", applied.Stdout, StringComparison.Ordinal);
        Assert.Empty(await ExecutionIdsAsync(dataSource));
    }

    private static (long, long, long, long, long) Counts(PruneResult r) => (r.Executions, r.LedgerRows, r.Attempts, r.RejectedMessages, r.Alerts);

    private static async Task<NpgsqlDataSource> MigratedAsync(ScratchDatabase database)
    {
        await new ControlDbMigrator(database.ConnectionString, NullLogger<ControlDbMigrator>.Instance).MigrateAsync();
        return ControlDbDataSource.Create(database.ConnectionString);
    }

    private sealed record Seeded(
        IReadOnlyList<Guid> All, IReadOnlyList<Guid> Remaining, Guid NewestIncrementalA, Guid NewestIncrementalB, Guid RecentRetry, PruneResult OnlyOldCounts);

    /// <summary>
    /// job_a: A (30 days old, all three stages, gold retried once), B (20 days, its newest incremental bronze),
    /// C (15 days, a backfill whose window ends after B's: it does not continue the chain), D (bronze 30 days old,
    /// silver retried 2 days ago), E (bronze RUNNING since 40 days: a zombie is never pruned); job_b: G (26 days) and
    /// F (25 days, its newest incremental bronze). Plus a rejection and an alert on each side of the cutoff.
    /// </summary>
    private static async Task<Seeded> SeedAsync(NpgsqlDataSource dataSource)
    {
        var (a, b, c, d, e, f, g) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await CompleteAsync(dataSource, a, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: false);
        await CompleteAsync(dataSource, a, Stage.Silver, "job_a", Now.AddDays(-30), backfill: null);
        await FailAsync(dataSource, a, Stage.Gold, "job_a", Now.AddDays(-30));
        await CompleteAsync(dataSource, a, Stage.Gold, "job_a", Now.AddDays(-30).AddMinutes(5), backfill: null);
        await CompleteAsync(dataSource, b, Stage.Bronze, "job_a", Now.AddDays(-20), backfill: false);
        await CompleteAsync(dataSource, c, Stage.Bronze, "job_a", Now.AddDays(-15), backfill: true, windowEnd: Now.AddDays(-10));
        await CompleteAsync(dataSource, d, Stage.Bronze, "job_a", Now.AddDays(-30), backfill: true);
        await FailAsync(dataSource, d, Stage.Silver, "job_a", Now.AddDays(-30));
        await CompleteAsync(dataSource, d, Stage.Silver, "job_a", Now.AddDays(-2), backfill: null);
        await new ExecutionLedger(dataSource, new FakeTimeProvider(Now.AddDays(-40)), Options)
            .ClaimAsync(new ClaimRequest(e, Stage.Bronze, "job_a", null, null, null, null), CancellationToken.None);
        await CompleteAsync(dataSource, g, Stage.Bronze, "job_b", Now.AddDays(-26), backfill: false);
        await CompleteAsync(dataSource, f, Stage.Bronze, "job_b", Now.AddDays(-25), backfill: false);

        var rejected = new RejectedMessageStore(dataSource);
        foreach (var (field, at) in new[] { ("old", Now.AddDays(-9)), ("recent", Now.AddDays(-1)) })
        {
            await rejected.InsertAsync("extract", "m-" + field, null, null, null, field, "test", "{}"u8.ToArray(), new Dictionary<string, string>(), at, CancellationToken.None);
        }

        foreach (var (key, at) in new[] { ("old-alert", Now.AddDays(-30)), ("recent-alert", Now.AddDays(-1)) })
        {
            var alerts = new AlertNotificationStore(dataSource, new FakeTimeProvider(at));
            var claim = await alerts.ClaimAsync(new AlertNotification(key, "zombie_takeover", a, "gold", "text"), CancellationToken.None);
            await alerts.MarkSentAsync(key, claim.ClaimToken, "log", CancellationToken.None);
        }

        // A: 3 rows and the gold attempt it replaced; C and G: one row each.
        return new Seeded([a, b, c, d, e, f, g], [b, d, e, f], b, f, d, new PruneResult(3, 5, 1, 1, 1, []));
    }

    private static async Task CompleteAsync(NpgsqlDataSource dataSource, Guid id, Stage stage, string job, DateTimeOffset at, bool? backfill, DateTimeOffset? windowEnd = null)
    {
        var ledger = new ExecutionLedger(dataSource, new FakeTimeProvider(at), Options);
        var lease = (await ledger.ClaimAsync(new ClaimRequest(id, stage, job, null, null, null, null), CancellationToken.None)).Lease!;
        var end = windowEnd ?? at;
        var window = await ledger.PinWindowAsync(lease, new TimeWindow(end.AddHours(-3), end), CancellationToken.None, backfill);
        Assert.True(await ledger.CompleteAsync(lease, new StageSuccess(window, [], 1, new Dictionary<string, long>(), "{}"), CancellationToken.None));
    }

    private static async Task FailAsync(NpgsqlDataSource dataSource, Guid id, Stage stage, string job, DateTimeOffset at)
    {
        var ledger = new ExecutionLedger(dataSource, new FakeTimeProvider(at), Options);
        var lease = (await ledger.ClaimAsync(new ClaimRequest(id, stage, job, null, null, null, null), CancellationToken.None)).Lease!;
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
