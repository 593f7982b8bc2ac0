using System.Globalization;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>What a prune deleted, or would delete on a dry run.</summary>
/// <param name="Executions">Executions whose every ledger row went.</param>
/// <param name="LedgerRows">Their <c>ingestion_job_execution</c> rows.</param>
/// <param name="Attempts">Their replaced attempts (<c>ingestion_job_attempt</c>), and attempts left without an execution.</param>
/// <param name="RejectedMessages"><c>rejected_message</c> rows received before the cutoff.</param>
/// <param name="Alerts"><c>alert_notification</c> rows last updated before the cutoff.</param>
/// <param name="Kept">Each job's newest successful incremental bronze run, kept whatever its age.</param>
public sealed record PruneResult(long Executions, long LedgerRows, long Attempts, long RejectedMessages, long Alerts, IReadOnlyList<KeptExecution> Kept);

/// <summary>An execution a prune keeps although it is older than the cutoff: the job's next incremental window starts at its end.</summary>
public sealed record KeptExecution(string JobName, Guid ExecutionId, DateTimeOffset WindowEnd, DateTimeOffset UpdatedAt);

/// <summary>
/// Retention of the control database. An execution goes only as a whole, when none of its rows is RUNNING and none
/// was written since the cutoff; the caller enforces a cutoff past Pub/Sub's 7-day message retention, so no
/// redelivery can reach a pruned execution. Each job's newest successful incremental bronze row stays whatever its
/// age (<see cref="ExecutionLedger.LastSuccessfulWindowAsync"/> reads it: without it the next hourly window would
/// start from the job's whole lookback), with the rest of its execution.
/// </summary>
public sealed class LedgerRetention(NpgsqlDataSource dataSource)
{
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

    /// <summary>Counts what <see cref="PruneAsync"/> would delete, deleting nothing.</summary>
    public Task<PruneResult> PlanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        RunAsync(cutoff, apply: false, DefaultBatchSize, cancellationToken);

    /// <summary>Deletes what is older than <paramref name="cutoff"/>, <paramref name="batchSize"/> executions per transaction.</summary>
    public Task<PruneResult> PruneAsync(DateTimeOffset cutoff, CancellationToken cancellationToken, int batchSize = DefaultBatchSize) =>
        RunAsync(cutoff, apply: true, batchSize, cancellationToken);

    private async Task<PruneResult> RunAsync(DateTimeOffset cutoff, bool apply, int batchSize, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var kept = await KeptAsync(cutoff, ct);
        var candidates = await CandidatesAsync(cutoff, ct);
        if (!apply)
        {
            return new PruneResult(
                candidates.Count,
                await CountAsync("SELECT count(*) FROM ingestion_job_execution WHERE execution_id = ANY(string_to_array(@ids, ',')::uuid[])", cutoff, candidates, ct),
                await CountAsync("""
                    SELECT count(*) FROM ingestion_job_attempt a
                    WHERE a.execution_id = ANY(string_to_array(@ids, ',')::uuid[])
                       OR (a.replaced_at < @cutoff AND NOT EXISTS (SELECT 1 FROM ingestion_job_execution e WHERE e.execution_id = a.execution_id))
                    """, cutoff, candidates, ct),
                await CountAsync("SELECT count(*) FROM rejected_message WHERE received_at < @cutoff", cutoff, [], ct),
                await CountAsync("SELECT count(*) FROM alert_notification WHERE updated_at < @cutoff", cutoff, [], ct),
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
        var rejected = await DeleteInBatchesAsync(
            "DELETE FROM rejected_message WHERE id IN (SELECT id FROM rejected_message WHERE received_at < @cutoff ORDER BY id LIMIT @batch)",
            cutoff, batchSize, ct);
        var alerts = await DeleteInBatchesAsync(
            "DELETE FROM alert_notification WHERE id IN (SELECT id FROM alert_notification WHERE updated_at < @cutoff ORDER BY id LIMIT @batch)",
            cutoff, batchSize, ct);
        return new PruneResult(executions, rows, attempts, rejected, alerts, kept);
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

    private async Task<List<Guid>> CandidatesAsync(DateTimeOffset cutoff, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand($"""
            WITH kept AS ({KeptSql})
            SELECT execution_id FROM ingestion_job_execution
            WHERE execution_id NOT IN (SELECT execution_id FROM kept)
            GROUP BY execution_id
            HAVING max(updated_at) < @cutoff AND bool_and(status <> 'RUNNING')
            ORDER BY min(created_at)
            """);
        cmd.Parameters.AddWithValue("cutoff", cutoff);
        var ids = new List<Guid>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    /// <summary>
    /// One transaction: takes each execution's replay lock (so a replay resetting one of them either committed first,
    /// and its fresh rows keep the execution, or waits and then finds nothing to replay), checks each execution again
    /// (a claim, heartbeat or replay since the candidates were read keeps it, as does becoming the job's newest
    /// incremental bronze), and deletes its rows and its replaced attempts.
    /// </summary>
    private async Task<(long Executions, long Rows, long Attempts)> DeleteExecutionsAsync(Guid[] batch, DateTimeOffset cutoff, CancellationToken ct)
    {
        var ids = string.Join(',', batch.Select(id => id.ToString("D")));
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var lockCmd = new NpgsqlCommand(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(string_to_array(@keys, ',')::bigint[]) AS k ORDER BY k", conn, tx))
        {
            lockCmd.Parameters.AddWithValue("keys", string.Join(',', batch.Select(LedgerOperations.ReplayLockKey).Order().Select(k => k.ToString(CultureInfo.InvariantCulture))));
            await lockCmd.ExecuteNonQueryAsync(ct);
        }

        // The row's own conditions are checked again on the row's newest version if a concurrent claim updated it.
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
            delete.Parameters.AddWithValue("ids", ids);
            delete.Parameters.AddWithValue("cutoff", cutoff);
            await using var reader = await delete.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                deleted.Add(reader.GetGuid(0));
                rows++;
            }
        }

        long attempts = 0;
        if (deleted.Count > 0)
        {
            await using var attemptsCmd = new NpgsqlCommand("""
                DELETE FROM ingestion_job_attempt a
                WHERE a.execution_id = ANY(string_to_array(@ids, ',')::uuid[])
                  AND NOT EXISTS (SELECT 1 FROM ingestion_job_execution e WHERE e.execution_id = a.execution_id)
                """, conn, tx);
            attemptsCmd.Parameters.AddWithValue("ids", string.Join(',', deleted.Select(id => id.ToString("D"))));
            attempts = await attemptsCmd.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return (deleted.Count, rows, attempts);
    }

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
        cmd.Parameters.AddWithValue("ids", string.Join(',', ids.Select(id => id.ToString("D"))));
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
