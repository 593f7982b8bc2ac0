using System.Text.Json;
using FinancialPipeline.Core.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace FinancialPipeline.ControlDb;

public enum ClaimOutcome
{
    /// <summary>This caller owns the row now (new, retry after FAILED, or zombie takeover).</summary>
    Claimed,

    /// <summary>The stage already succeeded: re-emit the stored completion event.</summary>
    AlreadySucceeded,

    /// <summary>Another worker holds the row with a fresh heartbeat: answer non-2xx, Pub/Sub redelivers later.</summary>
    Busy,

    /// <summary>
    /// The row belongs to another job (<see cref="ClaimResult.JobName"/>): the message named another job's execution
    /// id, so it can never run as it says. Nothing was claimed or changed.
    /// </summary>
    OtherJob,
}

public sealed record LedgerOptions
{
    /// <summary>A RUNNING row whose heartbeat is older than this is a zombie and may be taken over.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(90);

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(15);
}

/// <param name="RequestedWindow">
/// The window the message asked for (a backfill's start message), recorded with the row's first claim that carries one,
/// so a replay can send it again even when the stage failed before it pinned a window; null otherwise.
/// </param>
public sealed record ClaimRequest(Guid ExecutionId, Stage Stage, string JobName, string? Tickers, int? Interval, int? Overlap, string? BucketName, TimeWindow? RequestedWindow = null);

/// <summary>The caller's ownership of one (execution_id, stage) row; every write checks the token.</summary>
/// <param name="PreviousHeartbeatAt">The row's heartbeat before this claim (after a takeover: when the replaced worker went silent); null for a new row.</param>
public sealed record Lease(Guid ExecutionId, Stage Stage, Guid OwnerToken, int Attempt, string ClaimReason, DateTimeOffset? PreviousHeartbeatAt = null);

/// <param name="CompletionPublished">
/// <see cref="ClaimOutcome.AlreadySucceeded"/>: a publish of the stored completion event has already succeeded
/// (<c>completion_published_at</c> is set), so the re-emit need not record it again.
/// </param>
public sealed record ClaimResult(ClaimOutcome Outcome, Lease? Lease, string? CompletionJson, int Attempt, DateTimeOffset? HeartbeatAt, string? JobName = null, bool CompletionPublished = false);

/// <summary>One ledger row, as the stages, the tests and the operator (<c>fp runs</c>) read it.</summary>
public sealed record ExecutionRow(
    long Id,
    Guid ExecutionId,
    string Stage,
    string JobName,
    string Status,
    int Attempt,
    string ClaimReason,
    DateTimeOffset HeartbeatAt,
    DateTimeOffset? StartTime,
    DateTimeOffset? EndTime,
    string? Filename,
    long? Records,
    string? Error,
    string? CompletionJson,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt,
    string? WindowKind,
    DateTimeOffset CreatedAt,
    DateTimeOffset? CompletionPublishedAt,
    DateTimeOffset UpdatedAt,
    string? ReplayRequestedBy = null,
    DateTimeOffset? ReplayRequestedAt = null)
{
    /// <summary>When a publish of this success's completion event last failed; null when none has (migration 0014).</summary>
    public DateTimeOffset? CompletionPublishFailedAt { get; init; }

    /// <summary>
    /// SUCCESS, a publish of its completion event failed, and none has succeeded since: the next stage has not been
    /// triggered. The stage publishes right after its commit, and each redelivery of its trigger re-emits; see
    /// <see cref="ExecutionLedger.MarkCompletionPublishedAsync"/> and <see cref="ExecutionLedger.MarkCompletionPublishFailedAsync"/>.
    /// A success with neither time recorded (committed by a revision before migration 0012, or a publish not yet
    /// attempted) is not taken for unpublished.
    /// </summary>
    public bool CompletionUnpublished => Status == "SUCCESS" && CompletionPublishedAt is null && CompletionPublishFailedAt is not null;

    /// <summary>RUNNING with a heartbeat older than the stale threshold: its worker is gone.</summary>
    public bool IsZombie(DateTimeOffset now, TimeSpan staleAfter) => Status == "RUNNING" && HeartbeatAt < now - staleAfter;

    /// <summary>
    /// Pub/Sub gave up on the message of this attempt, so nothing will deliver it again (only a replay, or a new message
    /// of the execution, runs the stage): a dead-letter alert raised since the attempt started, for a row that is FAILED
    /// or RUNNING without a heartbeat since (its worker went silent, and the alert came before a takeover could).
    /// An older alert gave up on a message a replay has since replaced (its redeliveries may still be retrying this row),
    /// and a row just reset for replay waits for its new message.
    /// </summary>
    public bool IsDeadLettered(DateTimeOffset? newestDeadLetterAlert) =>
        newestDeadLetterAlert >= StartedAt
        && ((Status == "FAILED" && !(Error?.StartsWith(ExecutionLedger.ReplayMarker, StringComparison.Ordinal) ?? false))
            || (Status == "RUNNING" && HeartbeatAt < newestDeadLetterAlert));

    /// <summary>The same, given the newest dead-letter alert of each (execution, stage), as the alert store returns them.</summary>
    public bool IsDeadLettered(IReadOnlyDictionary<(Guid ExecutionId, string Stage), DateTimeOffset> newestDeadLetterAlerts) =>
        IsDeadLettered(newestDeadLetterAlerts.TryGetValue((ExecutionId, Stage), out var at) ? at : null);

    /// <summary>How long it ran, or has been running by <paramref name="now"/> (never negative: a reader's clock read before the claim).</summary>
    public TimeSpan? Duration(DateTimeOffset now) => Status == "RUNNING" ? (now > StartedAt ? now - StartedAt : TimeSpan.Zero) : FinishedAt - StartedAt;

    /// <summary>
    /// As <see cref="Duration(DateTimeOffset)"/>, but a zombie ran until its last heartbeat: its worker has been gone
    /// since, and counting to <paramref name="now"/> would read as a stage still running all that time.
    /// </summary>
    public TimeSpan? Duration(DateTimeOffset now, TimeSpan staleAfter) =>
        IsZombie(now, staleAfter) ? (HeartbeatAt > StartedAt ? HeartbeatAt - StartedAt : TimeSpan.Zero) : Duration(now);
}

public sealed record StageSuccess(TimeWindow Window, IReadOnlyList<string> Outputs, long Records, IReadOnlyDictionary<string, long> Metrics, string CompletionJson)
{
    /// <summary>The stock splits a bronze run restated (<c>split_restatement</c>): recorded by the commit itself, or not at all.</summary>
    public IReadOnlyList<RestatedSplit> RestatedSplits { get; init; } = [];
}

/// <summary>
/// An attempt of a stage as it stood when a later one replaced it (<paramref name="ReplacedBy"/>: retry, takeover
/// or replay): the ledger row shows only the newest attempt. <paramref name="CompletionJson"/> is the completion event a
/// replaced SUCCESS had stored (a replay's reset erases it from the row), null for an attempt that never succeeded;
/// <paramref name="CompletionPublishedAt"/> when it was first published, null when no publish of it succeeded.
/// <paramref name="ReplayRequestedBy"/> is who asked for it when it was a replay (<c>fp replay --by</c>).
/// </summary>
public sealed record ReplacedAttempt(
    string Stage,
    int Attempt,
    string Status,
    string ClaimReason,
    long? Records,
    string? Error,
    DateTimeOffset StartedAt,
    DateTimeOffset HeartbeatAt,
    DateTimeOffset? FinishedAt,
    string ReplacedBy,
    DateTimeOffset ReplacedAt,
    string? CompletionJson,
    DateTimeOffset? CompletionPublishedAt,
    string? ReplayRequestedBy = null);

/// <summary>
/// The (execution_id, stage) ledger: claim, heartbeat, complete, fail — each one statement on the unique key,
/// race-free under concurrent redeliveries. Times come from the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed partial class ExecutionLedger(NpgsqlDataSource dataSource, TimeProvider time, LedgerOptions options)
{
    /// <summary>The columns <see cref="ReadRowsAsync"/> reads, in its order (unqualified: usable in a join on execution_id).</summary>
    internal const string Columns = """
        id, execution_id, stage, job_name, status, attempt, claim_reason, heartbeat_at, start_time, end_time,
        filename, records, error, completion::text, started_at, finished_at, window_kind, created_at,
        completion_published_at, updated_at, replay_requested_by, replay_requested_at, completion_publish_failed_at
        """;

    /// <summary>Error text of a row an operator reset for replay; the next claim records reason <c>replay</c>.</summary>
    public const string ReplayMarker = "reset for replay";

    public LedgerOptions Options => options;

    public async Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken)
    {
        for (var round = 0; round < 3; round++)
        {
            var now = time.GetUtcNow();
            var owner = Guid.NewGuid();
            // previous: the row as it was before this statement (a CTE sees the statement's snapshot), so a takeover
            // can say when the worker it replaces last heartbeated, and the replaced attempt is kept in
            // ingestion_job_attempt; RETURNING sees only the updated row. A replay's reset has already kept it there.
            await using (var cmd = dataSource.CreateCommand("""
                WITH previous AS (
                    SELECT attempt, status, claim_reason, records, error, started_at, heartbeat_at, finished_at,
                           replay_requested_by, replay_requested_at
                    FROM ingestion_job_execution WHERE execution_id = @execution_id AND stage = @stage),
                claimed AS (
                INSERT INTO ingestion_job_execution AS e
                    (execution_id, stage, job_name, tickers, interval, overlap, bucket_name, status, attempt,
                     claim_reason, owner_token, heartbeat_at, started_at, created_at, updated_at, requested_start, requested_end)
                VALUES (@execution_id, @stage, @job_name, @tickers, @interval, @overlap, @bucket_name, 'RUNNING', 1,
                        'new', @owner, @now, @now, @now, @now, @requested_start, @requested_end)
                ON CONFLICT (execution_id, stage) DO UPDATE
                SET status = 'RUNNING',
                    attempt = e.attempt + 1,
                    claim_reason = CASE WHEN e.status = 'RUNNING' THEN 'takeover'
                                        WHEN e.error LIKE @replay_marker THEN 'replay' ELSE 'retry' END,
                    -- Who asked for a replay stays with the attempt the replay starts, not with a retry or takeover.
                    replay_requested_by = CASE WHEN e.status <> 'RUNNING' AND e.error LIKE @replay_marker THEN e.replay_requested_by END,
                    replay_requested_at = CASE WHEN e.status <> 'RUNNING' AND e.error LIKE @replay_marker THEN e.replay_requested_at END,
                    owner_token = EXCLUDED.owner_token,
                    heartbeat_at = EXCLUDED.heartbeat_at,
                    error = NULL,
                    -- The previous attempt's outputs and counts are not this attempt's: shown while it runs, they
                    -- read as its progress. The window (start_time, end_time) stays pinned.
                    filename = NULL,
                    records = NULL,
                    completion = NULL,
                    completion_published_at = NULL,
                    completion_publish_failed_at = NULL,
                    started_at = EXCLUDED.started_at,
                    finished_at = NULL,
                    -- The first request stays, as the pinned window does (an operator's republish may add one).
                    requested_start = COALESCE(e.requested_start, EXCLUDED.requested_start),
                    requested_end = COALESCE(e.requested_end, EXCLUDED.requested_end),
                    updated_at = EXCLUDED.updated_at
                WHERE (e.status = 'FAILED' OR (e.status = 'RUNNING' AND e.heartbeat_at < @stale_before))
                  AND e.job_name = EXCLUDED.job_name
                RETURNING e.attempt, e.claim_reason),
                kept AS (
                    INSERT INTO ingestion_job_attempt
                        (execution_id, stage, attempt, status, claim_reason, records, error, started_at, heartbeat_at,
                         finished_at, replay_requested_by, replay_requested_at, replaced_by, replaced_at)
                    SELECT @execution_id, @stage, p.attempt, p.status, p.claim_reason, p.records, p.error, p.started_at,
                           p.heartbeat_at, p.finished_at, p.replay_requested_by, p.replay_requested_at, c.claim_reason, @now
                    FROM previous p CROSS JOIN claimed c
                    WHERE c.claim_reason <> 'new'
                    ON CONFLICT (execution_id, stage, attempt) DO NOTHING)
                SELECT c.attempt, c.claim_reason, (SELECT heartbeat_at FROM previous) FROM claimed c
                """))
            {
                cmd.Parameters.AddWithValue("execution_id", request.ExecutionId);
                cmd.Parameters.AddWithValue("stage", request.Stage.ToWire());
                cmd.Parameters.AddWithValue("job_name", request.JobName);
                cmd.Parameters.AddWithValue("tickers", NpgsqlDbType.Varchar, (object?)request.Tickers ?? DBNull.Value);
                cmd.Parameters.AddWithValue("interval", NpgsqlDbType.Integer, (object?)request.Interval ?? DBNull.Value);
                cmd.Parameters.AddWithValue("overlap", NpgsqlDbType.Integer, (object?)request.Overlap ?? DBNull.Value);
                cmd.Parameters.AddWithValue("bucket_name", NpgsqlDbType.Varchar, (object?)request.BucketName ?? DBNull.Value);
                cmd.Parameters.AddWithValue("owner", owner);
                cmd.Parameters.AddWithValue("now", now);
                cmd.Parameters.AddWithValue("stale_before", now - options.StaleAfter);
                cmd.Parameters.AddWithValue("replay_marker", ReplayMarker + "%");
                cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("requested_start", NpgsqlDbType.TimestampTz) { TypedValue = request.RequestedWindow?.Start });
                cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("requested_end", NpgsqlDbType.TimestampTz) { TypedValue = request.RequestedWindow?.End });
                await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    var attempt = reader.GetInt32(0);
                    var reason = reader.GetString(1);
                    DateTimeOffset? previousHeartbeat = reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2);
                    return new ClaimResult(ClaimOutcome.Claimed, new Lease(request.ExecutionId, request.Stage, owner, attempt, reason, previousHeartbeat), null, attempt, now);
                }
            }

            var row = await GetAsync(request.ExecutionId, request.Stage, cancellationToken);
            if (row is not null && row.JobName != request.JobName)
            {
                return new ClaimResult(ClaimOutcome.OtherJob, null, null, row.Attempt, row.HeartbeatAt, row.JobName);
            }

            switch (row?.Status)
            {
                case "SUCCESS" when await TouchSucceededAsync(request, cancellationToken) is { } touched:
                    return new ClaimResult(ClaimOutcome.AlreadySucceeded, null, touched.Completion, touched.Attempt, row.HeartbeatAt, CompletionPublished: touched.Published);
                case "RUNNING" when row.HeartbeatAt >= time.GetUtcNow() - options.StaleAfter:
                    return new ClaimResult(ClaimOutcome.Busy, null, null, row.Attempt, row.HeartbeatAt);
                default:
                    continue; // changed between the two statements (failed or went stale): claim again
            }
        }

        throw new InvalidOperationException($"could not settle the claim of ({request.ExecutionId}, {request.Stage.ToWire()}) after 3 rounds");
    }

    /// <summary>
    /// The stored completion event of a SUCCESS row about to be re-emitted, marking the row as touched now
    /// (<c>updated_at</c>): the next stage claims on the re-emitted event, so <see cref="LedgerRetention"/> must not
    /// take the execution as untouched in between. Not touched when the row is no longer SUCCESS (reset by a replay, or
    /// pruned meanwhile): the caller claims again, and a pruned execution's stage runs again as new. Null when not
    /// touched; otherwise the event, the attempt it is of, and whether a publish of it has already succeeded.
    /// </summary>
    private async Task<(string? Completion, int Attempt, bool Published)?> TouchSucceededAsync(ClaimRequest request, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            UPDATE ingestion_job_execution SET updated_at = GREATEST(updated_at, @now)
            WHERE execution_id = @execution_id AND stage = @stage AND status = 'SUCCESS'
            RETURNING completion::text, attempt, completion_published_at IS NOT NULL
            """);
        cmd.Parameters.AddWithValue("execution_id", request.ExecutionId);
        cmd.Parameters.AddWithValue("stage", request.Stage.ToWire());
        cmd.Parameters.AddWithValue("now", time.GetUtcNow());
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt32(1), reader.GetBoolean(2))
            : null;
    }

    /// <summary>
    /// Records that a publish of <paramref name="attempt"/>'s completion event succeeded, once: the first publish's time
    /// stays. Guarded by the attempt, so a late re-emit of a success a replay has since reset (or replaced by a newer
    /// attempt) records nothing. False when nothing was recorded (already recorded, or the row is no longer that success).
    /// </summary>
    public Task<bool> MarkCompletionPublishedAsync(Guid executionId, Stage stage, int attempt, CancellationToken cancellationToken) =>
        MarkUnpublishedSuccessAsync("completion_published_at", executionId, stage, attempt, cancellationToken);

    /// <summary>
    /// Records that a publish of <paramref name="attempt"/>'s completion event failed, unless one has succeeded: the row
    /// then reads as <see cref="ExecutionRow.CompletionUnpublished"/> until a re-emit gets the event out. Guarded by the
    /// attempt as <see cref="MarkCompletionPublishedAsync"/> is.
    /// </summary>
    public Task MarkCompletionPublishFailedAsync(Guid executionId, Stage stage, int attempt, CancellationToken cancellationToken) =>
        MarkUnpublishedSuccessAsync("completion_publish_failed_at", executionId, stage, attempt, cancellationToken);

    /// <summary>Sets <paramref name="column"/> (one of the two above, never input) on the attempt's success not yet published.</summary>
    private async Task<bool> MarkUnpublishedSuccessAsync(string column, Guid executionId, Stage stage, int attempt, CancellationToken cancellationToken)
    {
        if (column is not ("completion_published_at" or "completion_publish_failed_at"))
        {
            throw new ArgumentOutOfRangeException(nameof(column), column, "not a completion publish column");
        }

        await using var cmd = dataSource.CreateCommand($"""
            UPDATE ingestion_job_execution SET {column} = @now
            WHERE execution_id = @execution_id AND stage = @stage AND status = 'SUCCESS' AND attempt = @attempt
              AND completion_published_at IS NULL
            """);
        cmd.Parameters.AddWithValue("execution_id", executionId);
        cmd.Parameters.AddWithValue("stage", stage.ToWire());
        cmd.Parameters.AddWithValue("attempt", attempt);
        cmd.Parameters.AddWithValue("now", time.GetUtcNow());
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>Fixes the stage's data window at its first attempt; later attempts get the stored one back.</summary>
    /// <param name="backfill">An explicit (backfill) window: it does not continue the incremental chain.</param>
    public async Task<TimeWindow> PinWindowAsync(Lease lease, TimeWindow proposed, CancellationToken cancellationToken, bool? backfill = null)
    {
        await using var cmd = dataSource.CreateCommand("""
            UPDATE ingestion_job_execution
            SET start_time = COALESCE(start_time, @start), end_time = COALESCE(end_time, @end), updated_at = @now,
                window_kind = COALESCE(window_kind, @kind)
            WHERE execution_id = @execution_id AND stage = @stage AND owner_token = @owner AND status = 'RUNNING'
            RETURNING start_time, end_time
            """);
        AddKey(cmd, lease);
        cmd.Parameters.AddWithValue("start", proposed.Start);
        cmd.Parameters.AddWithValue("end", proposed.End);
        cmd.Parameters.AddWithValue("now", time.GetUtcNow());
        cmd.Parameters.Add(new NpgsqlParameter<string?>("kind", NpgsqlDbType.Text) { TypedValue = backfill switch { true => "backfill", false => "incremental", null => null } });
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new LeaseLostException(lease);
        }

        return new TimeWindow(reader.GetFieldValue<DateTimeOffset>(0), reader.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>Refreshes the heartbeat; false when another worker has taken the row over.</summary>
    public async Task<bool> HeartbeatAsync(Lease lease, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            UPDATE ingestion_job_execution SET heartbeat_at = @now, updated_at = @now
            WHERE execution_id = @execution_id AND stage = @stage AND owner_token = @owner AND status = 'RUNNING'
            """);
        AddKey(cmd, lease);
        cmd.Parameters.AddWithValue("now", time.GetUtcNow());
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Marks SUCCESS with counts and the completion event, and records <see cref="StageSuccess.RestatedSplits"/> in the
    /// same statement (so only a committed SUCCESS records them); false when the lease was lost (nothing recorded).
    /// </summary>
    public async Task<bool> CompleteAsync(Lease lease, StageSuccess success, CancellationToken cancellationToken)
    {
        const string Update = """
            UPDATE ingestion_job_execution
            SET status = 'SUCCESS', start_time = @start, end_time = @end, filename = @filename, records = @records,
                metrics = @metrics, completion = @completion, finished_at = @now, heartbeat_at = @now,
                updated_at = @now, error = NULL
            WHERE execution_id = @execution_id AND stage = @stage AND owner_token = @owner AND status = 'RUNNING'
            """;
        await using var cmd = dataSource.CreateCommand(success.RestatedSplits.Count == 0 ? Update : RecordingRestatedSplits(Update));
        if (success.RestatedSplits.Count > 0)
        {
            cmd.Parameters.AddWithValue("splits", NpgsqlDbType.Jsonb, RestatedSplitsJson(success.RestatedSplits));
        }

        AddKey(cmd, lease);
        var now = time.GetUtcNow();
        cmd.Parameters.AddWithValue("start", success.Window.Start);
        cmd.Parameters.AddWithValue("end", success.Window.End);
        cmd.Parameters.AddWithValue("filename", string.Join('\n', success.Outputs));
        cmd.Parameters.AddWithValue("records", success.Records);
        cmd.Parameters.AddWithValue("metrics", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(success.Metrics, ControlDbJson.Default.IReadOnlyDictionaryStringInt64));
        cmd.Parameters.AddWithValue("completion", NpgsqlDbType.Jsonb, success.CompletionJson);
        cmd.Parameters.AddWithValue("now", now);
        return success.RestatedSplits.Count == 0
            ? await cmd.ExecuteNonQueryAsync(cancellationToken) == 1
            : await cmd.ExecuteScalarAsync(cancellationToken) is 1L;
    }

    /// <summary>Marks FAILED with the error text (a retry will claim it again); false when the lease was lost.</summary>
    public async Task<bool> FailAsync(Lease lease, string error, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            UPDATE ingestion_job_execution
            SET status = 'FAILED', error = @error, finished_at = @now, updated_at = @now
            WHERE execution_id = @execution_id AND stage = @stage AND owner_token = @owner AND status = 'RUNNING'
            """);
        AddKey(cmd, lease);
        cmd.Parameters.AddWithValue("error", StorableText.Of(error, 4000));
        cmd.Parameters.AddWithValue("now", time.GetUtcNow());
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<ExecutionRow?> GetAsync(Guid executionId, Stage stage, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT {Columns} FROM ingestion_job_execution WHERE execution_id = @execution_id AND stage = @stage");
        cmd.Parameters.AddWithValue("execution_id", executionId);
        cmd.Parameters.AddWithValue("stage", stage.ToWire());
        var rows = await ReadRowsAsync(cmd, cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<IReadOnlyList<ExecutionRow>> ListAsync(Guid executionId, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT {Columns} FROM ingestion_job_execution WHERE execution_id = @execution_id ORDER BY id");
        cmd.Parameters.AddWithValue("execution_id", executionId);
        return await ReadRowsAsync(cmd, cancellationToken);
    }

    /// <summary>The attempts of <paramref name="executionId"/>'s stages that later attempts replaced, oldest first.</summary>
    public async Task<IReadOnlyList<ReplacedAttempt>> ListReplacedAttemptsAsync(Guid executionId, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT stage, attempt, status, claim_reason, records, error, started_at, heartbeat_at, finished_at, replaced_by, replaced_at,
                   completion::text, completion_published_at, replay_requested_by
            FROM ingestion_job_attempt WHERE execution_id = @execution_id ORDER BY stage, attempt
            """);
        cmd.Parameters.AddWithValue("execution_id", executionId);
        var attempts = new List<ReplacedAttempt>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            attempts.Add(new ReplacedAttempt(
                reader.GetString(0),
                reader.GetInt32(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetFieldValue<DateTimeOffset>(6),
                reader.GetFieldValue<DateTimeOffset>(7),
                reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
                reader.GetString(9),
                reader.GetFieldValue<DateTimeOffset>(10),
                reader.IsDBNull(11) ? null : reader.GetString(11),
                reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12),
                reader.IsDBNull(13) ? null : reader.GetString(13)));
        }

        return attempts;
    }

    /// <summary>The window of the job's newest successful run of <paramref name="stage"/> (incremental windows start from its end).</summary>
    public async Task<TimeWindow?> LastSuccessfulWindowAsync(string jobName, Stage stage, Guid excludingExecution, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT start_time, end_time FROM ingestion_job_execution
            WHERE job_name = @job_name AND stage = @stage AND status = 'SUCCESS' AND execution_id <> @exclude
              AND start_time IS NOT NULL AND end_time IS NOT NULL AND window_kind IS DISTINCT FROM 'backfill'
            ORDER BY end_time DESC LIMIT 1
            """);
        cmd.Parameters.AddWithValue("job_name", jobName);
        cmd.Parameters.AddWithValue("stage", stage.ToWire());
        cmd.Parameters.AddWithValue("exclude", excludingExecution);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new TimeWindow(reader.GetFieldValue<DateTimeOffset>(0), reader.GetFieldValue<DateTimeOffset>(1))
            : null;
    }

    private static void AddKey(NpgsqlCommand cmd, Lease lease)
    {
        cmd.Parameters.AddWithValue("execution_id", lease.ExecutionId);
        cmd.Parameters.AddWithValue("stage", lease.Stage.ToWire());
        cmd.Parameters.AddWithValue("owner", lease.OwnerToken);
    }

    internal static async Task<List<ExecutionRow>> ReadRowsAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var rows = new List<ExecutionRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new ExecutionRow(
                r.GetInt64(0), r.GetGuid(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5), r.GetString(6),
                r.GetFieldValue<DateTimeOffset>(7),
                r.IsDBNull(8) ? null : r.GetFieldValue<DateTimeOffset>(8),
                r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9),
                r.IsDBNull(10) ? null : r.GetString(10),
                r.IsDBNull(11) ? null : r.GetInt64(11),
                r.IsDBNull(12) ? null : r.GetString(12),
                r.IsDBNull(13) ? null : r.GetString(13),
                r.GetFieldValue<DateTimeOffset>(14),
                r.IsDBNull(15) ? null : r.GetFieldValue<DateTimeOffset>(15),
                r.IsDBNull(16) ? null : r.GetString(16),
                r.GetFieldValue<DateTimeOffset>(17),
                r.IsDBNull(18) ? null : r.GetFieldValue<DateTimeOffset>(18),
                r.GetFieldValue<DateTimeOffset>(19),
                r.IsDBNull(20) ? null : r.GetString(20),
                r.IsDBNull(21) ? null : r.GetFieldValue<DateTimeOffset>(21))
            {
                CompletionPublishFailedAt = r.IsDBNull(22) ? null : r.GetFieldValue<DateTimeOffset>(22),
            });
        }

        return rows;
    }
}

/// <summary>Another worker took the (execution_id, stage) row over: this worker must stop writing.</summary>
public sealed class LeaseLostException : Exception
{
    public LeaseLostException(Lease lease)
        : base($"lost ownership of ({lease.ExecutionId}, {lease.Stage.ToWire()}) attempt {lease.Attempt}: another worker took it over")
    {
    }

    public LeaseLostException()
    {
    }

    public LeaseLostException(string message)
        : base(message)
    {
    }

    public LeaseLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
