using System.Globalization;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>What a prune deleted, or would delete on a dry run.</summary>
/// <param name="Cutoff">Rows last written before this instant are old.</param>
/// <param name="Executions">Executions whose every ledger row went.</param>
/// <param name="LedgerRows">Their <c>ingestion_job_execution</c> rows.</param>
/// <param name="Attempts">Their replaced attempts (<c>ingestion_job_attempt</c>), and old attempts left without an execution.</param>
/// <param name="RejectedMessages">Old <c>rejected_message</c> rows naming no execution that stays.</param>
/// <param name="Alerts">Old <c>alert_notification</c> rows of no execution that stays.</param>
/// <param name="Kept">Each job's newest successful incremental bronze run, when older than the cutoff: kept anyway.</param>
public sealed record PruneResult(
    DateTimeOffset Cutoff, long Executions, long LedgerRows, long Attempts, long RejectedMessages, long Alerts, IReadOnlyList<KeptExecution> Kept);

/// <summary>An execution a prune keeps although it is older than the cutoff: the job's next incremental window continues from its end.</summary>
public sealed record KeptExecution(string JobName, Guid ExecutionId, DateTimeOffset WindowEnd, DateTimeOffset UpdatedAt);

/// <summary>
/// Retention of the control database. An execution goes only as a whole, when none of its rows is RUNNING and none
/// was written for at least <see cref="MinAge"/>, past the pipeline subscriptions' 7-day message retention, so no
/// redelivery can reach a pruned execution (a stage that re-emits a stored event touches its row first, see
/// <see cref="ExecutionLedger.ClaimAsync"/>). Each job's newest successful incremental bronze row stays whatever its
/// age (<see cref="ExecutionLedger.LastSuccessfulWindowAsync"/> reads it: without it the next hourly window would
/// start from the job's whole lookback), with the rest of its execution; so do the alerts and rejections of every
/// execution that stays. The record of restated stock splits (<c>split_restatement</c>) is left alone: a row is a fact
/// about the job's silver data, not about an execution (its <c>restated_by</c> may name a pruned one), there are a few
/// a year, and deleting one would only make the next run that sees the split scan silver's history again.
/// </summary>
public sealed class LedgerRetention(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>The youngest a pruned row may be: a day past the 7 days the pipeline's subscriptions keep a message.</summary>
    public static readonly TimeSpan MinAge = TimeSpan.FromDays(8);

    /// <summary>Executions deleted per transaction: short locks, and the functions' claims never wait long.</summary>
    public const int DefaultBatchSize = 500;

    // The same rule as ExecutionLedger.LastSuccessfulWindowAsync (less its excluded execution, the run asking), for each
    // job of the subquery j: one probe of the (job_name, stage, end_time DESC) index per job, not a scan of the bronze rows.
    private const string NewestIncrementalBronzeOfJ = """
        CROSS JOIN LATERAL (
            SELECT b.job_name, b.execution_id, b.end_time FROM ingestion_job_execution b
            WHERE b.job_name = j.job_name AND b.stage = 'bronze' AND b.status = 'SUCCESS'
              AND b.start_time IS NOT NULL AND b.end_time IS NOT NULL AND b.window_kind IS DISTINCT FROM 'backfill'
            ORDER BY b.end_time DESC LIMIT 1) k
        """;

    private const string KeptSql = $"SELECT k.* FROM (SELECT DISTINCT job_name FROM ingestion_job_execution) j {NewestIncrementalBronzeOfJ}";

    // In a batch's delete: only the batch's jobs.
    private const string KeptOfBatchSql =
        $"SELECT k.* FROM (SELECT DISTINCT job_name FROM ingestion_job_execution WHERE execution_id = ANY(string_to_array(@ids, ',')::uuid[])) j {NewestIncrementalBronzeOfJ}";

    // Old rejections and alerts of executions that stay are kept with them (fp runs reads a dead-lettered stage from its
    // alert). A rejection names an execution as fp runs matches it: the hyphenated form, in any case; its execution_id is
    // the message's own text, so nothing else is cast (one malformed value would fail every prune). @ids: the executions
    // this prune deletes, on a dry run (they are gone when it applies).
    private const string OldRejectionsSql = """
        FROM rejected_message r
        WHERE r.received_at < @cutoff AND NOT EXISTS (
            SELECT 1 FROM ingestion_job_execution e
            WHERE e.execution_id = CASE WHEN lower(r.execution_id) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                        THEN lower(r.execution_id)::uuid END
              AND NOT e.execution_id = ANY(string_to_array(@ids, ',')::uuid[]))
        """;

    private const string OldAlertsSql = """
        FROM alert_notification a
        WHERE a.updated_at < @cutoff AND NOT EXISTS (
            SELECT 1 FROM ingestion_job_execution e
            WHERE e.execution_id = a.execution_id AND NOT e.execution_id = ANY(string_to_array(@ids, ',')::uuid[]))
        """;

    /// <summary>Counts what <see cref="PruneAsync"/> would delete now, deleting nothing.</summary>
    public Task<PruneResult> PlanAsync(TimeSpan olderThan, CancellationToken cancellationToken) =>
        RunAsync(olderThan, apply: false, DefaultBatchSize, cancellationToken);

    /// <summary>Deletes what was last written more than <paramref name="olderThan"/> ago, <paramref name="batchSize"/> executions per transaction.</summary>
    public Task<PruneResult> PruneAsync(TimeSpan olderThan, CancellationToken cancellationToken, int batchSize = DefaultBatchSize) =>
        RunAsync(olderThan, apply: true, batchSize, cancellationToken);

    private async Task<PruneResult> RunAsync(TimeSpan olderThan, bool apply, int batchSize, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (olderThan < MinAge)
        {
            throw new ArgumentOutOfRangeException(
                nameof(olderThan), olderThan, $"rows younger than {MinAge.TotalDays:F0} days are never pruned: a redelivered message may still name them");
        }

        var cutoff = time.GetUtcNow() - olderThan;
        var kept = await KeptAsync(cutoff, ct);
        var (candidates, candidateRows) = await CandidatesAsync(cutoff, ct);
        if (!apply)
        {
            return new PruneResult(
                cutoff,
                candidates.Count,
                candidateRows,
                await CountAsync("""
                    SELECT count(*) FROM ingestion_job_attempt a
                    WHERE a.execution_id = ANY(string_to_array(@ids, ',')::uuid[])
                       OR (a.replaced_at < @cutoff AND NOT EXISTS (SELECT 1 FROM ingestion_job_execution e WHERE e.execution_id = a.execution_id))
                    """, cutoff, candidates, ct),
                await CountAsync("SELECT count(*) " + OldRejectionsSql, cutoff, candidates, ct),
                await CountAsync("SELECT count(*) " + OldAlertsSql, cutoff, candidates, ct),
                kept);
        }

        long executions = 0, rows = 0, attempts = 0;
        foreach (var batch in candidates.Chunk(batchSize))
        {
            var (e, r, a) = await DeleteExecutionsAsync(batch, cutoff, ct);
            (executions, rows, attempts) = (executions + e, rows + r, attempts + a);
        }

        attempts += await DeleteInBatchesAsync("""
            DELETE FROM ingestion_job_attempt WHERE (execution_id, stage, attempt) IN (
                SELECT a.execution_id, a.stage, a.attempt FROM ingestion_job_attempt a
                WHERE a.replaced_at < @cutoff AND NOT EXISTS (SELECT 1 FROM ingestion_job_execution e WHERE e.execution_id = a.execution_id)
                LIMIT @batch)
            """, cutoff, batchSize, ct);
        var rejected = await DeleteInBatchesAsync($"DELETE FROM rejected_message WHERE id IN (SELECT r.id {OldRejectionsSql} ORDER BY r.id LIMIT @batch)", cutoff, batchSize, ct);
        var alerts = await DeleteInBatchesAsync($"DELETE FROM alert_notification WHERE id IN (SELECT a.id {OldAlertsSql} ORDER BY a.id LIMIT @batch)", cutoff, batchSize, ct);
        return new PruneResult(cutoff, executions, rows, attempts, rejected, alerts, kept);
    }

    private async Task<IReadOnlyList<KeptExecution>> KeptAsync(DateTimeOffset cutoff, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand($"""
            WITH kept AS ({KeptSql})
            SELECT k.job_name, k.execution_id, k.end_time, max(e.updated_at)
            FROM kept k JOIN ingestion_job_execution e USING (execution_id)
            GROUP BY k.job_name, k.execution_id, k.end_time
            HAVING max(e.updated_at) < @cutoff
            ORDER BY k.job_name
            """);
        cmd.Parameters.AddWithValue("cutoff", cutoff);
        var kept = new List<KeptExecution>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            kept.Add(new KeptExecution(reader.GetString(0), reader.GetGuid(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetFieldValue<DateTimeOffset>(3)));
        }

        return kept;
    }

    /// <summary>The executions old enough to go, oldest first, and how many ledger rows they hold.</summary>
    private async Task<(List<Guid> Ids, long Rows)> CandidatesAsync(DateTimeOffset cutoff, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand($"""
            WITH kept AS ({KeptSql})
            SELECT execution_id, count(*) FROM ingestion_job_execution
            WHERE execution_id NOT IN (SELECT execution_id FROM kept)
            GROUP BY execution_id
            HAVING max(updated_at) < @cutoff AND bool_and(status <> 'RUNNING')
            ORDER BY min(created_at)
            """);
        cmd.Parameters.AddWithValue("cutoff", cutoff);
        var ids = new List<Guid>();
        long rows = 0;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetGuid(0));
            rows += reader.GetInt64(1);
        }

        return (ids, rows);
    }

    /// <summary>
    /// One transaction: takes each execution's replay lock (so a replay resetting one of them either committed first,
    /// and its fresh rows keep the execution, or waits and then finds nothing to replay) and locks the executions' rows
    /// (so a claim, heartbeat or re-emit in flight commits first); then, in a statement that sees all of that, checks
    /// each execution again (any row written since the cutoff or RUNNING keeps it, as does becoming the job's newest
    /// incremental bronze) and deletes its rows and its replaced attempts. A stage row inserted meanwhile (a claim of a
    /// stage the execution had no row for) would leave part of an execution behind: the batch is undone and checked again.
    /// </summary>
    private async Task<(long Executions, long Rows, long Attempts)> DeleteExecutionsAsync(Guid[] batch, DateTimeOffset cutoff, CancellationToken ct)
    {
        for (var round = 1; ; round++)
        {
            await using var conn = await dataSource.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await using (var lockCmd = new NpgsqlCommand(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(string_to_array(@keys, ',')::bigint[]) AS k ORDER BY k", conn, tx))
            {
                lockCmd.Parameters.AddWithValue("keys", string.Join(',', batch.Select(LedgerOperations.ReplayLockKey).Order().Select(k => k.ToString(CultureInfo.InvariantCulture))));
                await lockCmd.ExecuteNonQueryAsync(ct);
            }

            await using (var rowLocks = new NpgsqlCommand(
                "SELECT 1 FROM ingestion_job_execution WHERE execution_id = ANY(string_to_array(@ids, ',')::uuid[]) ORDER BY id FOR UPDATE", conn, tx))
            {
                rowLocks.Parameters.AddWithValue("ids", IdList(batch));
                await rowLocks.ExecuteNonQueryAsync(ct);
            }

            var deleted = new HashSet<Guid>();
            long rows = 0;
            await using (var delete = new NpgsqlCommand($"""
                WITH kept AS ({KeptOfBatchSql})
                DELETE FROM ingestion_job_execution e
                WHERE e.execution_id = ANY(string_to_array(@ids, ',')::uuid[])
                  AND e.updated_at < @cutoff AND e.status <> 'RUNNING'
                  AND e.execution_id NOT IN (SELECT execution_id FROM kept)
                  AND NOT EXISTS (
                      SELECT 1 FROM ingestion_job_execution x
                      WHERE x.execution_id = e.execution_id AND (x.updated_at >= @cutoff OR x.status = 'RUNNING'))
                RETURNING e.execution_id
                """, conn, tx))
            {
                delete.Parameters.AddWithValue("ids", IdList(batch));
                delete.Parameters.AddWithValue("cutoff", cutoff);
                await using var reader = await delete.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    deleted.Add(reader.GetGuid(0));
                    rows++;
                }
            }

            if (deleted.Count == 0)
            {
                return (0, 0, 0);
            }

            await using (var left = new NpgsqlCommand(
                "SELECT count(*) FROM ingestion_job_execution WHERE execution_id = ANY(string_to_array(@ids, ',')::uuid[])", conn, tx))
            {
                left.Parameters.AddWithValue("ids", IdList(deleted));
                if ((long)(await left.ExecuteScalarAsync(ct))! > 0)
                {
                    await tx.RollbackAsync(ct);
                    if (round == 3)
                    {
                        return (0, 0, 0); // still being written to: the next prune looks at them again
                    }

                    continue;
                }
            }

            await using var attemptsCmd = new NpgsqlCommand("""
                DELETE FROM ingestion_job_attempt a
                WHERE a.execution_id = ANY(string_to_array(@ids, ',')::uuid[])
                  AND NOT EXISTS (SELECT 1 FROM ingestion_job_execution e WHERE e.execution_id = a.execution_id)
                """, conn, tx);
            attemptsCmd.Parameters.AddWithValue("ids", IdList(deleted));
            var attempts = await attemptsCmd.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
            return (deleted.Count, rows, attempts);
        }
    }

    private static string IdList(IEnumerable<Guid> ids) => string.Join(',', ids.Select(id => id.ToString("D")));

    private async Task<long> DeleteInBatchesAsync(string sql, DateTimeOffset cutoff, int batchSize, CancellationToken ct)
    {
        long total = 0;
        while (true)
        {
#pragma warning disable CA2100 // the callers' constant statements; only the cutoff and batch size vary, as parameters
            await using var cmd = dataSource.CreateCommand(sql);
#pragma warning restore CA2100
            cmd.Parameters.AddWithValue("cutoff", cutoff);
            cmd.Parameters.AddWithValue("batch", batchSize);
            cmd.Parameters.AddWithValue("ids", string.Empty); // nothing left to exclude: the executions are gone
            var n = await cmd.ExecuteNonQueryAsync(ct);
            total += n;
            if (n < batchSize)
            {
                return total;
            }
        }
    }

    private async Task<long> CountAsync(string sql, DateTimeOffset cutoff, IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
#pragma warning disable CA2100 // the callers' constant statements; the cutoff and ids go as parameters
        await using var cmd = dataSource.CreateCommand(sql);
#pragma warning restore CA2100
        cmd.Parameters.AddWithValue("cutoff", cutoff);
        cmd.Parameters.AddWithValue("ids", IdList(ids));
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
