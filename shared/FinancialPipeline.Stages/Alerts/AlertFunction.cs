using CloudNative.CloudEvents;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Hosting;
using FinancialPipeline.PubSub;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Stages.Alerts;

/// <summary>
/// The Alert function, subscribed to the dead-letter topic and to the alerts topic: turns each message into one
/// Slack post. A failed post answers 5xx so Pub/Sub redelivers (the alert is not lost); a redelivery after a
/// successful post is acknowledged without posting again. A dead letter whose stage the ledger shows RUNNING with a
/// fresh heartbeat is answered 409 until the row settles (its failure may not have been recorded: the row then goes
/// stale); one whose stage the ledger shows SUCCESS with its completion event published is a duplicate delivery that
/// gave up while the stage did not, and is acknowledged without a post (the message stays in the dead-letter hold
/// subscription and one log line says why). SUCCESS without a publish recorded is a stage that cannot publish its
/// completion event (each delivery of its trigger tried and failed): posted, so the next stage that never ran is noticed;
/// while the row was committed or re-emitted less than the stale threshold ago a worker may still be publishing, and
/// the dead letter is answered 409 until then. A FAILED, zombie or unpublished row is posted once per attempt,
/// whichever of its dead letters (the run's own, a duplicate's) arrives first.
/// </summary>
public sealed partial class AlertFunction(
    ExecutionLedger ledger, AlertDispatcher dispatcher, StageTopics topics, PipelineSettings settings, TimeProvider time, ILogger<AlertFunction> logger)
    : ICloudEventFunction<MessagePublishedData>
{
    public const string Name = "alert";

    /// <summary>How far Pub/Sub's clock (a dead letter's publish time) and the stage's (the row's finish) may disagree.</summary>
    private static readonly TimeSpan FailureClockTolerance = TimeSpan.FromSeconds(5);

    public async Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
    {
        if (await ComposeAsync(data, cancellationToken) is { } alert)
        {
            await dispatcher.SendAsync(alert, cancellationToken);
        }
    }

    private async Task<AlertMessage?> ComposeAsync(MessagePublishedData data, CancellationToken cancellationToken)
    {
        var kind = data.Message.Attributes.GetValueOrDefault(TakeoverAlertEvent.AlertAttribute);
        switch (kind)
        {
            case TakeoverAlertEvent.Kind:
                return AlertComposer.ForTakeover(TakeoverAlertEvent.Parse(data.Message.Data));
            case null:
                var deadLetter = DeadLetter.From(data.Message, topics.Prefix);
                var row = deadLetter is { ExecutionId: { } id, Stage: { } stage } ? await ledger.GetAsync(id, stage, cancellationToken) : null;
                if (row is null)
                {
                    return AlertComposer.ForDeadLetter(deadLetter, row, topics, settings.ProjectId);
                }

                var now = time.GetUtcNow();
                if (row.Status == "RUNNING" && !row.IsZombie(now, ledger.Options.StaleAfter))
                {
                    // Either a duplicate that gave up while the stage ran, or the run's own message, whose failure could
                    // not be recorded (the row goes stale): decided when the row settles, so not acknowledged now.
                    throw new RetryLaterException($"dead letter of {row.Stage} of execution {row.ExecutionId:D} waits: the ledger shows it RUNNING (attempt {row.Attempt}, heartbeat {row.HeartbeatAt:O}); it is posted if the stage fails or its heartbeat goes stale (after {(int)ledger.Options.StaleAfter.TotalSeconds} s), dropped if it succeeds");
                }

                if (row.CompletionUnpublished)
                {
                    if (row.UpdatedAt >= now - ledger.Options.StaleAfter)
                    {
                        // Committed or re-emitted a moment ago: its publish may still be in flight, and recorded soon.
                        throw new RetryLaterException($"dead letter of {row.Stage} of execution {row.ExecutionId:D} waits: the ledger shows it SUCCESS (attempt {row.Attempt}) without its completion event published, written at {row.UpdatedAt:O}; it is posted if no publish is recorded within {(int)ledger.Options.StaleAfter.TotalSeconds} s of that, dropped if one is");
                    }

                    return AlertComposer.ForUnpublishedCompletion(deadLetter with { DedupeKey = DeadLetter.UnpublishedDedupeKeyOf(row) }, row, topics, settings.ProjectId);
                }

                if (row.Status == "SUCCESS")
                {
                    LogDuplicateGaveUp(logger, row.Stage, row.ExecutionId, row.Status, row.Attempt, deadLetter.DeliveryCount, row.HeartbeatAt);
                    return null;
                }

                if (row.Status == "FAILED" && data.Message.PublishTime < row.FinishedAt - FailureClockTolerance)
                {
                    // Dead-lettered while an attempt still ran that failed later: that attempt's own message is retried,
                    // and dead-lettered and posted itself if it fails for good. Posting this one too would be a second post.
                    LogGaveUpBeforeTheFailure(logger, row.Stage, row.ExecutionId, data.Message.PublishTime, row.Attempt, row.FinishedAt);
                    return null;
                }

                // One post per failed attempt: the run's own dead letter and a duplicate's share the key.
                return AlertComposer.ForDeadLetter(deadLetter with { DedupeKey = DeadLetter.DedupeKeyOf(row) }, row, topics, settings.ProjectId);
            default:
                throw new MessageRejectedException("attributes." + TakeoverAlertEvent.AlertAttribute, $"unknown alert kind '{kind}'");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "dead letter of {Stage} of execution {ExecutionId} not alerted: the ledger shows it {Status} (attempt {Attempt}, heartbeat {HeartbeatAt:O}); a duplicate delivery gave up after {DeliveryCount} attempts while the stage ran, not the stage")]
    private static partial void LogDuplicateGaveUp(ILogger logger, string stage, Guid executionId, string status, int attempt, int? deliveryCount, DateTimeOffset heartbeatAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "dead letter of {Stage} of execution {ExecutionId} not alerted: it gave up at {PublishTime:O}, before attempt {Attempt} failed at {FinishedAt:O}; that attempt's own message is retried, and dead-lettered and alerted if it fails for good")]
    private static partial void LogGaveUpBeforeTheFailure(ILogger logger, string stage, Guid executionId, DateTimeOffset? publishTime, int attempt, DateTimeOffset? finishedAt);
}

/// <summary>Claim in <c>alert_notification</c>, post, record the outcome: once per dedupe key, again only after a failure.</summary>
public sealed partial class AlertDispatcher(AlertNotificationStore store, IAlertChannel channel, ILogger<AlertDispatcher> logger)
{
    public async Task SendAsync(AlertMessage alert, CancellationToken cancellationToken)
    {
        var identifiers = new LogScope(
            ("execution_id", alert.ExecutionId?.ToString("D") ?? "unknown"),
            ("stage", alert.Stage?.ToWire() ?? "unknown"),
            ("alert_kind", alert.Kind));
        using var scope = logger.BeginScope(identifiers);
        EventLogContext.Describe(identifiers);
        var claim = await store.ClaimAsync(
            new AlertNotification(alert.DedupeKey, alert.Kind, alert.ExecutionId, alert.Stage?.ToWire(), alert.Text),
            cancellationToken);
        switch (claim.Outcome)
        {
            case AlertClaimOutcome.AlreadySent:
                LogAlreadySent(logger, alert.DedupeKey);
                return;
            case AlertClaimOutcome.Busy:
                throw new RetryLaterException($"alert {alert.DedupeKey} is being posted by another delivery");
        }

        try
        {
            await channel.PostAsync(alert, cancellationToken);
        }
        catch (AlertDeliveryException ex)
        {
            await store.MarkFailedAsync(alert.DedupeKey, claim.ClaimToken, ex.Message, CancellationToken.None);
            // The host logs this as the request's one line (no stack trace: a Slack outage fails every redelivery).
            throw new AlertDeliveryException($"alert {alert.DedupeKey} post attempt {claim.Attempts} failed: {ex.Message}", ex);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // A cancelled request (push deadline, shutdown) releases the claim too, so the redelivery posts at once
            // instead of finding it SENDING until the claim goes stale.
            const string reason = "aborted: the request was cancelled while posting";
            LogPostFailed(logger, alert.DedupeKey, claim.Attempts, reason);
            await store.MarkFailedAsync(alert.DedupeKey, claim.ClaimToken, reason, CancellationToken.None);
            throw;
        }

        if (!await store.MarkSentAsync(alert.DedupeKey, claim.ClaimToken, channel.Name, CancellationToken.None))
        {
            LogClaimLost(logger, alert.DedupeKey);
        }

        LogSent(logger, alert.DedupeKey, channel.Name, claim.Attempts);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "alert {DedupeKey} already posted; acknowledging the redelivery without posting again")]
    private static partial void LogAlreadySent(ILogger logger, string dedupeKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "alert {DedupeKey} post attempt {Attempt} failed: {Reason}; answering 5xx so Pub/Sub redelivers it")]
    private static partial void LogPostFailed(ILogger logger, string dedupeKey, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "alert {DedupeKey} was posted but its claim had been taken over meanwhile (the post was slower than the claim lifetime)")]
    private static partial void LogClaimLost(ILogger logger, string dedupeKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "alert {DedupeKey} sent to {Channel} (attempt {Attempt})")]
    private static partial void LogSent(ILogger logger, string dedupeKey, string channel, int attempt);
}
