using Npgsql;
using NpgsqlTypes;

namespace FinancialPipeline.ControlDb;

public enum AlertClaimOutcome
{
    /// <summary>This caller owns the alert now and must post it (first time, after a failed post, or a stale claim).</summary>
    Claimed,

    /// <summary>Already posted: acknowledge without posting again.</summary>
    AlreadySent,

    /// <summary>Another delivery is posting it right now: answer non-2xx, Pub/Sub redelivers later.</summary>
    Busy,
}

/// <summary>What to record about one alert.</summary>
public sealed record AlertNotification(string DedupeKey, string Kind, Guid? ExecutionId, string? Stage, string Message);

public sealed record AlertClaim(AlertClaimOutcome Outcome, Guid ClaimToken, int Attempts);

public sealed record AlertNotificationRow(string DedupeKey, string Kind, Guid? ExecutionId, string? Stage, string Status, string? Channel, int Attempts, string? LastError, string Message, DateTimeOffset? SentAt, DateTimeOffset CreatedAt);

/// <summary>
/// <c>alert_notification</c>: claim-before-post so an alert is posted once per dedupe key, and re-posted when the
/// previous post failed. Each transition is one statement on the unique key.
/// </summary>
public sealed class AlertNotificationStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>A SENDING claim older than this belongs to a poster that died; it may be claimed again.</summary>
    public static readonly TimeSpan ClaimStaleAfter = TimeSpan.FromSeconds(60);

    private const int MaxErrorLength = 2000;

    /// <summary>
    /// One statement: claim (insert, or take over a FAILED/stale row) or report the row's status. A conflicting row
    /// this statement's snapshot cannot see was inserted concurrently a moment ago, so it is being posted: Busy.
    /// </summary>
    public async Task<AlertClaim> ClaimAsync(AlertNotification alert, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var token = Guid.NewGuid();
        await using var cmd = dataSource.CreateCommand("""
            WITH claimed AS (
                INSERT INTO alert_notification AS a
                    (dedupe_key, kind, execution_id, stage, status, attempts, claim_token, claimed_at, message, created_at, updated_at)
                VALUES (@key, @kind, @execution_id, @stage, 'SENDING', 1, @token, @now, @message, @now, @now)
                ON CONFLICT (dedupe_key) DO UPDATE
                SET status = 'SENDING', attempts = a.attempts + 1, claim_token = EXCLUDED.claim_token,
                    claimed_at = EXCLUDED.claimed_at, message = EXCLUDED.message, updated_at = EXCLUDED.updated_at
                WHERE a.status = 'FAILED' OR (a.status = 'SENDING' AND a.claimed_at < @stale_before)
                RETURNING a.attempts
            )
            SELECT 'CLAIMED', attempts FROM claimed
            UNION ALL
            SELECT status, attempts FROM alert_notification
            WHERE dedupe_key = @key AND NOT EXISTS (SELECT 1 FROM claimed)
            """);
        cmd.Parameters.AddWithValue("key", alert.DedupeKey);
        cmd.Parameters.AddWithValue("kind", alert.Kind);
        cmd.Parameters.AddWithValue("execution_id", NpgsqlDbType.Uuid, (object?)alert.ExecutionId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("stage", NpgsqlDbType.Varchar, (object?)alert.Stage ?? DBNull.Value);
        cmd.Parameters.AddWithValue("token", token);
        cmd.Parameters.AddWithValue("now", now);
        cmd.Parameters.AddWithValue("message", StorableText.Of(alert.Message));
        cmd.Parameters.AddWithValue("stale_before", now - ClaimStaleAfter);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return new AlertClaim(AlertClaimOutcome.Busy, Guid.Empty, 0);
        }

        var attempts = reader.GetInt32(1);
        return reader.GetString(0) switch
        {
            "CLAIMED" => new AlertClaim(AlertClaimOutcome.Claimed, token, attempts),
            "SENT" => new AlertClaim(AlertClaimOutcome.AlreadySent, Guid.Empty, attempts),
            _ => new AlertClaim(AlertClaimOutcome.Busy, Guid.Empty, attempts), // SENDING elsewhere (FAILED would have been claimed)
        };
    }

    /// <summary>The post succeeded; false when another delivery took the claim over meanwhile (it will post too).</summary>
    public async Task<bool> MarkSentAsync(string dedupeKey, Guid claimToken, string channel, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            UPDATE alert_notification
            SET status = 'SENT', channel = @channel, sent_at = @now, updated_at = @now, last_error = NULL
            WHERE dedupe_key = @key AND claim_token = @token AND status = 'SENDING'
            """);
        cmd.Parameters.AddWithValue("key", dedupeKey);
        cmd.Parameters.AddWithValue("token", claimToken);
        cmd.Parameters.AddWithValue("channel", channel);
        cmd.Parameters.AddWithValue("now", time.GetUtcNow());
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>The post failed: the next delivery of the message claims it again.</summary>
    public async Task MarkFailedAsync(string dedupeKey, Guid claimToken, string error, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            UPDATE alert_notification
            SET status = 'FAILED', last_error = @error, updated_at = @now
            WHERE dedupe_key = @key AND claim_token = @token AND status = 'SENDING'
            """);
        cmd.Parameters.AddWithValue("key", dedupeKey);
        cmd.Parameters.AddWithValue("token", claimToken);
        cmd.Parameters.AddWithValue("error", StorableText.Of(error, MaxErrorLength));
        cmd.Parameters.AddWithValue("now", time.GetUtcNow());
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<AlertNotificationRow?> GetAsync(string dedupeKey, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT dedupe_key, kind, execution_id, stage, status, channel, attempts, last_error, message, sent_at, created_at
            FROM alert_notification WHERE dedupe_key = @key
            """);
        cmd.Parameters.AddWithValue("key", dedupeKey);
        var rows = await ReadAsync(cmd, cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<IReadOnlyList<AlertNotificationRow>> ListByExecutionAsync(Guid executionId, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT dedupe_key, kind, execution_id, stage, status, channel, attempts, last_error, message, sent_at, created_at
            FROM alert_notification WHERE execution_id = @execution_id ORDER BY id
            """);
        cmd.Parameters.AddWithValue("execution_id", executionId);
        return await ReadAsync(cmd, cancellationToken);
    }

    /// <summary>
    /// The (execution, stage) pairs among <paramref name="executionIds"/> that a dead-letter alert was raised for, at or
    /// after <paramref name="raisedSince"/> (any time when null), each with the newest such alert's time.
    /// </summary>
    public async Task<IReadOnlyDictionary<(Guid ExecutionId, string Stage), DateTimeOffset>> DeadLetteredAsync(
        IEnumerable<Guid> executionIds, DateTimeOffset? raisedSince, CancellationToken cancellationToken)
    {
        // One delimited text parameter, not an array: the control DB's data source maps scalar types only.
        await using var cmd = dataSource.CreateCommand("""
            SELECT execution_id, stage, max(created_at) FROM alert_notification
            WHERE kind = 'dead_letter' AND stage IS NOT NULL
              AND execution_id = ANY(string_to_array(@execution_ids, ',')::uuid[])
              AND (@raised_since IS NULL OR created_at >= @raised_since)
            GROUP BY execution_id, stage
            """);
        cmd.Parameters.AddWithValue("execution_ids", string.Join(',', executionIds.Select(id => id.ToString("D"))));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("raised_since", NpgsqlDbType.TimestampTz) { TypedValue = raisedSince });
        var pairs = new Dictionary<(Guid, string), DateTimeOffset>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            pairs[(r.GetGuid(0), r.GetString(1))] = r.GetFieldValue<DateTimeOffset>(2);
        }

        return pairs;
    }

    private static async Task<List<AlertNotificationRow>> ReadAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var rows = new List<AlertNotificationRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new AlertNotificationRow(
                r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetGuid(2), r.IsDBNull(3) ? null : r.GetString(3),
                r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.GetInt32(6), r.IsDBNull(7) ? null : r.GetString(7),
                r.GetString(8), r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9), r.GetFieldValue<DateTimeOffset>(10)));
        }

        return rows;
    }
}
