using System.IO.Hashing;
using System.Text;
using FinancialPipeline.Core.Contracts;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>What a replay must republish once its ledger rows are reset.</summary>
/// <param name="JobName">The execution's job.</param>
/// <param name="BackfillWindow">
/// Bronze replay of a backfill: the pinned window to send again, or the requested one when bronze failed before it
/// pinned one (null for incremental runs).
/// </param>
/// <param name="UpstreamCompletionJson">Silver/gold replay: the upstream stage's stored completion event.</param>
/// <param name="ResetStages">The rows that were reset (the stage and the later ones that existed).</param>
public sealed record ReplayReset(string JobName, TimeWindow? BackfillWindow, string? UpstreamCompletionJson, IReadOnlyList<string> ResetStages);

/// <summary>A replay that must not happen now (running elsewhere, nothing to replay from).</summary>
public sealed class ReplayRefusedException : Exception
{
    public ReplayRefusedException(string message)
        : base(message)
    {
    }

    public ReplayRefusedException()
    {
    }

    public ReplayRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Operator actions on the ledger: reset for replay, recent runs.</summary>
public sealed class LedgerOperations(NpgsqlDataSource dataSource, TimeProvider time, LedgerOptions options)
{
    private static readonly Stage[] Order = [Stage.Bronze, Stage.Silver, Stage.Gold];

    /// <summary>
    /// Under a per-execution advisory lock, in one transaction: refuses when <paramref name="stage"/> or a later
    /// stage is RUNNING with a fresh heartbeat; otherwise marks those rows FAILED with
    /// <see cref="ExecutionLedger.ReplayMarker"/>, so the normal claim path takes them again (attempt + 1, reason
    /// <c>replay</c>). Returns what to republish.
    /// </summary>
    /// <param name="checkWindow">
    /// For a bronze replay that will send a window (a backfill's): why Extract would refuse it now (the job's provider
    /// or bars changed, or a cap came in since it was pinned), or null. A refusal leaves every row as it was: reset,
    /// the rows would wait for a run that never comes.
    /// </param>
    public async Task<ReplayReset> ResetForReplayAsync(
        Guid executionId, Stage stage, string requestedBy, CancellationToken cancellationToken, Func<string, TimeWindow, CancellationToken, Task<string?>>? checkWindow = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(requestedBy);
        await using var conn = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", conn, tx))
        {
            lockCmd.Parameters.AddWithValue("key", ReplayLockKey(executionId));
            await lockCmd.ExecuteNonQueryAsync(cancellationToken);
        }

        var rows = new Dictionary<string, (string Job, string Status, DateTimeOffset Heartbeat, TimeWindow? Pinned, string? Kind, string? Completion, TimeWindow? Requested)>();
        await using (var select = new NpgsqlCommand("""
            SELECT stage, job_name, status, heartbeat_at, start_time, end_time, window_kind, completion::text,
                   requested_start, requested_end
            FROM ingestion_job_execution WHERE execution_id = @execution_id FOR UPDATE
            """, conn, tx))
        {
            select.Parameters.AddWithValue("execution_id", executionId);
            await using var r = await select.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                rows[r.GetString(0)] = (
                    r.GetString(1), r.GetString(2), r.GetFieldValue<DateTimeOffset>(3),
                    ReadWindow(r, 4),
                    r.IsDBNull(6) ? null : r.GetString(6),
                    r.IsDBNull(7) ? null : r.GetString(7),
                    ReadWindow(r, 8));
            }
        }

        if (!rows.TryGetValue(stage.ToWire(), out var target))
        {
            // The furthest stage the execution reached is where a replay can start from.
            foreach (var reached in new[] { Stage.Gold, Stage.Silver, Stage.Bronze })
            {
                if (rows.TryGetValue(reached.ToWire(), out var last))
                {
                    throw new ReplayRefusedException(
                        $"execution {executionId:D} has no {stage.ToWire()} row: it stopped at {reached.ToWire()} ({last.Status}): fp replay --execution-id {executionId:D} --stage {reached.ToWire()} re-runs it from there");
                }
            }

            throw new ReplayRefusedException(
                $"execution {executionId:D} has no ledger row: nothing to replay (fp runs --execution-id {executionId:D} shows any rejected message that named it)");
        }

        string? upstreamCompletion = null;
        if (stage.Upstream() is { } upstream)
        {
            if (!rows.TryGetValue(upstream.ToWire(), out var up) || up.Status != "SUCCESS" || up.Completion is null)
            {
                throw new ReplayRefusedException($"{upstream.ToWire()} of {executionId} has not succeeded: replay {upstream.ToWire()} instead");
            }

            upstreamCompletion = up.Completion;
        }

        var now = time.GetUtcNow();
        var affected = Order.SkipWhile(s => s != stage).Select(s => s.ToWire()).Where(rows.ContainsKey).ToList();
        foreach (var name in affected)
        {
            var row = rows[name];
            if (row.Status == "RUNNING" && row.Heartbeat >= now - options.StaleAfter)
            {
                throw new ReplayRefusedException($"{name} of {executionId} is RUNNING with a fresh heartbeat ({row.Heartbeat:O}): wait for it to finish or go stale");
            }
        }

        // A bronze that pinned its window resends it (a backfill's; an incremental one is recomputed); one that failed
        // before pinning resends what its start message asked for, so a backfill stays a backfill.
        var backfill = stage != Stage.Bronze ? null
            : target.Pinned is not null ? (target.Kind == "backfill" ? target.Pinned : null)
            : target.Requested;
        if (backfill is { } window && checkWindow is not null && await checkWindow(target.Job, window, cancellationToken) is { } refusal)
        {
            throw new ReplayRefusedException($"bronze of {executionId:D} would run its window {window.Start:O} → {window.End:O} again, which Extract would now refuse: {refusal}");
        }

        // The attempts the reset replaces are kept first (a SUCCESS row included: its outcome is what the reset erases).
        await using (var keep = new NpgsqlCommand("""
            INSERT INTO ingestion_job_attempt
                (execution_id, stage, attempt, status, claim_reason, records, error, started_at, heartbeat_at, finished_at,
                 completion, completion_published_at, replay_requested_by, replay_requested_at, replaced_by, replaced_at)
            SELECT execution_id, stage, attempt, status, claim_reason, records, error, started_at, heartbeat_at, finished_at,
                   completion, completion_published_at, replay_requested_by, replay_requested_at, 'replay', @now
            FROM ingestion_job_execution
            WHERE execution_id = @execution_id AND stage = ANY(string_to_array(@stages, ','))
            ON CONFLICT (execution_id, stage, attempt) DO NOTHING
            """, conn, tx))
        {
            keep.Parameters.AddWithValue("execution_id", executionId);
            keep.Parameters.AddWithValue("stages", string.Join(',', affected));
            keep.Parameters.AddWithValue("now", now);
            await keep.ExecuteNonQueryAsync(cancellationToken);
        }

        // Who asked is kept in its own columns: the claim of the replayed attempt clears the error text.
        await using (var update = new NpgsqlCommand("""
            UPDATE ingestion_job_execution
            SET status = 'FAILED', error = @error, finished_at = @now, updated_at = @now,
                filename = NULL, records = NULL, completion = NULL, completion_published_at = NULL, completion_publish_failed_at = NULL,
                replay_requested_by = @requested_by, replay_requested_at = @now
            WHERE execution_id = @execution_id AND stage = ANY(string_to_array(@stages, ','))
            """, conn, tx))
        {
            update.Parameters.AddWithValue("execution_id", executionId);
            update.Parameters.AddWithValue("stages", string.Join(',', affected));
            update.Parameters.AddWithValue("error", $"{ExecutionLedger.ReplayMarker} by {requestedBy} at {now:O}");
            update.Parameters.AddWithValue("requested_by", StorableText.Of(requestedBy, 256));
            update.Parameters.AddWithValue("now", now);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return new ReplayReset(target.Job, backfill, upstreamCompletion, affected);
    }

    /// <summary>Every row of the <paramref name="limit"/> most recently created executions (of one job if given), newest first.</summary>
    public async Task<IReadOnlyList<ExecutionRow>> RecentRunsAsync(int limit, string? jobName, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        // An execution's newest row is among the limit × 3 newest rows of the ledger: an execution has at most one row
        // per stage, and every row newer than the limit-th execution's newest belongs to one of the limit newest. So
        // only those rows are read (through an index on created_at), not the whole ledger.
        var filter = jobName is null ? "" : "WHERE job_name = @job_name";
        await using var cmd = dataSource.CreateCommand($"""
            WITH newest_rows AS (
                SELECT execution_id, created_at FROM ingestion_job_execution {filter}
                ORDER BY created_at DESC LIMIT @rows),
            recent AS (
                SELECT execution_id, max(created_at) AS newest FROM newest_rows
                GROUP BY execution_id ORDER BY newest DESC LIMIT @limit)
            SELECT {ExecutionLedger.Columns}
            FROM ingestion_job_execution e JOIN recent USING (execution_id)
            ORDER BY recent.newest DESC, e.execution_id,
                     CASE e.stage WHEN 'bronze' THEN 0 WHEN 'silver' THEN 1 ELSE 2 END
            """);
        if (jobName is not null)
        {
            cmd.Parameters.AddWithValue("job_name", jobName);
        }

        cmd.Parameters.AddWithValue("limit", limit);
        cmd.Parameters.AddWithValue("rows", (long)limit * Enum.GetValues<Stage>().Length);
        return await ExecutionLedger.ReadRowsAsync(cmd, cancellationToken);
    }

    private static TimeWindow? ReadWindow(NpgsqlDataReader reader, int startOrdinal) =>
        reader.IsDBNull(startOrdinal) || reader.IsDBNull(startOrdinal + 1)
            ? null
            : new TimeWindow(reader.GetFieldValue<DateTimeOffset>(startOrdinal), reader.GetFieldValue<DateTimeOffset>(startOrdinal + 1));

    /// <summary>The advisory lock a replay's reset holds on its execution (a prune takes it too).</summary>
    public static long ReplayLockKey(Guid executionId) =>
        unchecked((long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes("replay:" + executionId.ToString("D"))));
}
