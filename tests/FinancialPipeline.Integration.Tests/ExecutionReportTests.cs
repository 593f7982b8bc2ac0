using System.Text.RegularExpressions;
using FinancialPipeline.Cli;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Integration.Tests;

/// <summary>How <c>fp runs --execution-id</c> lays out one execution's stages, without a database.</summary>
public sealed class ExecutionReportTests
{
    [Fact]
    public void EveryFieldOfAStage_TheQuarantineLineIncluded_StartsInOneColumn()
    {
        var id = Guid.NewGuid();
        var stages = new[]
        {
            LedgerCellsTests.Row("bronze", "SUCCESS", new RecordCounts(390, 390, 0), id),
            LedgerCellsTests.Row("silver", "SUCCESS", new RecordCounts(390, 0, 390), id),
        };
        var facts = new ExecutionReport.Facts(id, stages, [], [], []);

        var report = ExecutionReport.Render(facts, stages[0].CreatedAt, TimeSpan.FromSeconds(90));

        var fields = Regex.Matches(report, "^  ([a-z]+):( +)", RegexOptions.Multiline);
        Assert.Contains(fields, f => f.Groups[1].Value == "quarantine");
        Assert.Contains($"  quarantine: 390 row(s) set aside: fp quarantine --execution-id {id:D} lists them", report, StringComparison.Ordinal);
        Assert.Single(fields.Select(f => f.Length).Distinct());
    }

    [Fact]
    public void AZombie_RanUntilItsLastHeartbeat_NotUntilNow()
    {
        // Started 11 minutes ago, silent for the last 10: its worker ran one minute, it is not "running for 660 s".
        var id = Guid.NewGuid();
        var now = new DateTimeOffset(2026, 11, 24, 13, 40, 0, TimeSpan.Zero);
        var zombie = LedgerCellsTests.Row("silver", "RUNNING", null, id) with { StartedAt = now.AddMinutes(-11), HeartbeatAt = now.AddMinutes(-10), FinishedAt = null };

        var report = ExecutionReport.Render(new ExecutionReport.Facts(id, [zombie], [], [], []), now, TimeSpan.FromSeconds(30));

        Assert.Contains("silver: ZOMBIE (RUNNING, heartbeat 600 s ago, stale after 30 s)", report, StringComparison.Ordinal);
        Assert.Contains("  started:    2026-11-24 13:29:00 UTC, 60.00 s until its last heartbeat", report, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromMinutes(11), zombie.Duration(now)); // what fp runs showed
        Assert.Equal(TimeSpan.FromMinutes(1), zombie.Duration(now, TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.FromMinutes(11), zombie.Duration(now, TimeSpan.FromMinutes(15))); // not stale yet: still running
    }

    [Fact]
    public void TheAttemptsALaterOneReplaced_AreListedUnderTheirStage()
    {
        var id = Guid.NewGuid();
        var now = new DateTimeOffset(2026, 11, 24, 13, 40, 0, TimeSpan.Zero);
        var silver = LedgerCellsTests.Row("silver", "SUCCESS", new RecordCounts(10, 10, 0), id) with { Attempt = 3, ClaimReason = "takeover" };
        ReplacedAttempt[] replaced =
        [
            new("silver", 1, "FAILED", "new", null, "storage unavailable", now.AddMinutes(-20), now.AddMinutes(-19), now.AddMinutes(-19), "retry", now.AddMinutes(-18), null, null),
            new("silver", 2, "RUNNING", "retry", null, null, now.AddMinutes(-18), now.AddMinutes(-15), null, "takeover", now.AddMinutes(-5), null, null),
        ];
        // Gold replayed: the success the reset erased is shown with what it had read and written, next to the replay's "→ 0".
        var gold = LedgerCellsTests.Row("gold", "SUCCESS", new RecordCounts(350, 0, 0), id) with { Attempt = 2, ClaimReason = "replay" };
        var replacedGold = LedgerCellsTests.Row("gold", "SUCCESS", new RecordCounts(350, 348, 2), id);
        var replayed = new ReplacedAttempt("gold", 1, "SUCCESS", "new", 348, null, now.AddMinutes(-30), now.AddMinutes(-29), now.AddMinutes(-29), "replay", now.AddMinutes(-2), replacedGold.CompletionJson, now.AddMinutes(-29));

        var report = ExecutionReport.Render(new ExecutionReport.Facts(id, [silver, gold], [], [], [.. replaced, replayed]), now, TimeSpan.FromSeconds(30));

        Assert.Contains("  earlier:    attempt 1 (new), started 2026-11-24 13:20:00 UTC: FAILED 2026-11-24 13:21:00 UTC: storage unavailable; retried 2026-11-24 13:22:00 UTC", report, StringComparison.Ordinal);
        Assert.Contains("              attempt 2 (retry), started 2026-11-24 13:22:00 UTC: RUNNING, last heartbeat 2026-11-24 13:25:00 UTC; taken over 2026-11-24 13:35:00 UTC", report, StringComparison.Ordinal);
        Assert.Contains("  earlier:    attempt 1 (new), started 2026-11-24 13:10:00 UTC: SUCCESS 2026-11-24 13:11:00 UTC, rows 350 → 348 (2 rejected), 0 outputs; reset for replay 2026-11-24 13:38:00 UTC", report, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, null, true)]                          // raised after this attempt started: Pub/Sub gave up on it
    [InlineData(-1, null, false)]                        // raised before: it gave up on a message a replay replaced
    [InlineData(1, "reset for replay by ops at", false)] // reset, waiting for the replay's message
    public void DeadLettered_IsSaidOnlyOfTheAttemptPubSubGaveUpOn(int alertMinutesAfterStart, string? error, bool deadLettered)
    {
        var id = Guid.NewGuid();
        var row = LedgerCellsTests.Row("silver", "FAILED", null, id) with { Error = error ?? "storage unavailable", Attempt = 7 };
        var alert = new AlertNotificationRow($"dead_letter:{id:D}:silver", FinancialPipeline.Stages.Alerts.AlertMessage.DeadLetterKind, id, "silver", "SENT", "slack", 1, null, "gave up", row.StartedAt, row.StartedAt.AddMinutes(alertMinutesAfterStart));

        var report = ExecutionReport.Render(new ExecutionReport.Facts(id, [row], [alert], [], []), row.StartedAt.AddMinutes(5), TimeSpan.FromSeconds(30));

        Assert.Equal(deadLettered, report.Contains("silver: FAILED, dead-lettered", StringComparison.Ordinal));
        Assert.Equal(deadLettered, row.IsDeadLettered(alert.CreatedAt));
    }

    [Theory]
    [InlineData(-1, true)]  // silent since before the alert: Pub/Sub gave up before a redelivery could take it over
    [InlineData(1, false)]  // it heartbeat again after the alert (a frozen worker resumed): not given up on
    public void AZombieWhoseMessageWasDeadLettered_IsSaidToNeedAReplay(int heartbeatMinutesAfterAlert, bool deadLettered)
    {
        var id = Guid.NewGuid();
        var now = new DateTimeOffset(2026, 11, 24, 13, 40, 0, TimeSpan.Zero);
        var alertAt = now.AddMinutes(-5);
        var row = LedgerCellsTests.Row("bronze", "RUNNING", null, id) with { StartedAt = now.AddMinutes(-10), HeartbeatAt = alertAt.AddMinutes(heartbeatMinutesAfterAlert), FinishedAt = null };
        var alert = new AlertNotificationRow($"dead_letter:{id:D}:bronze:1", FinancialPipeline.Stages.Alerts.AlertMessage.DeadLetterKind, id, "bronze", "SENT", "slack", 1, null, "gave up", alertAt, alertAt);

        var report = ExecutionReport.Render(new ExecutionReport.Facts(id, [row], [alert], [], []), now, TimeSpan.FromSeconds(30));

        Assert.Equal(deadLettered, row.IsDeadLettered(alert.CreatedAt));
        Assert.Equal(deadLettered, report.Contains("stale after 30 s), dead-lettered (Pub/Sub gave up before a redelivery could take it over; only a replay runs it again)", StringComparison.Ordinal));
        Assert.Contains("bronze: ZOMBIE (RUNNING, heartbeat", report, StringComparison.Ordinal);
    }

    [Fact]
    public void AReplacedSuccessKeptWithoutItsCompletionEvent_ShowsItsRecordsCount()
    {
        // Attempts kept before migration 0009 have no completion event: the count the ledger kept is what is shown.
        var id = Guid.NewGuid();
        var now = new DateTimeOffset(2026, 11, 24, 13, 40, 0, TimeSpan.Zero);
        var bronze = LedgerCellsTests.Row("bronze", "SUCCESS", new RecordCounts(10, 10, 0), id) with { Attempt = 2, ClaimReason = "replay" };
        var kept = new ReplacedAttempt("bronze", 1, "SUCCESS", "new", 10, null, now.AddMinutes(-30), now.AddMinutes(-29), now.AddMinutes(-29), "replay", now.AddMinutes(-2), null, now.AddMinutes(-29));

        var report = ExecutionReport.Render(new ExecutionReport.Facts(id, [bronze], [], [], [kept]), now, TimeSpan.FromSeconds(30));

        Assert.Contains("  earlier:    attempt 1 (new), started 2026-11-24 13:10:00 UTC: SUCCESS 2026-11-24 13:11:00 UTC, 10 rows; reset for replay 2026-11-24 13:38:00 UTC", report, StringComparison.Ordinal);
    }

    [Fact]
    public void ASuccessWithNoPublishRecorded_EitherWay_IsNotReportedUnpublished()
    {
        // Committed by a revision that predates the publish records (a deploy rolling out), or not yet published.
        var id = Guid.NewGuid();
        var bronze = LedgerCellsTests.Row("bronze", "SUCCESS", new RecordCounts(10, 10, 0), id) with { CompletionPublishedAt = null };

        var report = ExecutionReport.Render(new ExecutionReport.Facts(id, [bronze], [], [], []), new DateTimeOffset(2026, 11, 24, 13, 40, 0, TimeSpan.Zero), TimeSpan.FromSeconds(30));

        Assert.Contains("bronze: SUCCESS, attempt 1", report, StringComparison.Ordinal);
        Assert.DoesNotContain("not published", report, StringComparison.Ordinal);
    }

    [Fact]
    public void ASuccessWhoseCompletionWasNeverPublished_SaysSo_AndHowToReemitIt()
    {
        var id = Guid.NewGuid();
        var now = new DateTimeOffset(2026, 11, 24, 13, 40, 0, TimeSpan.Zero);
        var bronze = LedgerCellsTests.Row("bronze", "SUCCESS", new RecordCounts(10, 10, 0), id) with { CompletionPublishedAt = null, CompletionPublishFailedAt = now.AddMinutes(-5) };
        var silver = LedgerCellsTests.Row("silver", "SUCCESS", new RecordCounts(10, 10, 0), id) with { Attempt = 2, ClaimReason = "replay" };
        var kept = new ReplacedAttempt("silver", 1, "SUCCESS", "new", 10, null, now.AddMinutes(-30), now.AddMinutes(-29), now.AddMinutes(-29), "replay", now.AddMinutes(-2), null, null);

        var report = ExecutionReport.Render(new ExecutionReport.Facts(id, [bronze, silver], [], [], [kept]), now, TimeSpan.FromSeconds(30));

        Assert.Contains("bronze: SUCCESS, completion not published (no publish of its completion event has succeeded: the next stage has not been triggered), attempt 1 (new)", report, StringComparison.Ordinal);
        Assert.Contains("silver: SUCCESS, attempt 2 (replay)", report, StringComparison.Ordinal);
        Assert.Contains($"to re-emit bronze's completion event once it can be published (its stages re-emit, none runs again): fp publish --job financial_extract --execution-id {id:D}", report, StringComparison.Ordinal);
        // A replaced success says nothing of its publish: one committed before migration 0012, or reset by a replay
        // between its publish and the record, has no publish time although its event went out.
        Assert.Contains("SUCCESS 2026-11-24 13:11:00 UTC, 10 rows; reset for replay", report, StringComparison.Ordinal);
        Assert.DoesNotContain("silver: SUCCESS, completion not published", report, StringComparison.Ordinal);
    }
}
