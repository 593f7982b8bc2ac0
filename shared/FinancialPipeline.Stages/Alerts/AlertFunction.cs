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
/// successful post is acknowledged without posting again. A dead letter whose stage the ledger shows SUCCESS, or
/// RUNNING with a fresh heartbeat, is not posted: it is a duplicate delivery that gave up (answered 409 while the
/// stage ran) while the stage itself did not; the message stays in the dead-letter hold subscription and one log line
/// says why. Should that run fail for good, its own message is dead-lettered and alerted then.
/// </summary>
public sealed partial class AlertFunction(
    ExecutionLedger ledger, AlertDispatcher dispatcher, StageTopics topics, PipelineSettings settings, TimeProvider time, ILogger<AlertFunction> logger)
    : ICloudEventFunction<MessagePublishedData>
{
    public const string Name = "alert";

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
                if (row is not null && (row.Status == "SUCCESS" || (row.Status == "RUNNING" && !row.IsZombie(time.GetUtcNow(), ledger.Options.StaleAfter))))
                {
                    LogDuplicateGaveUp(logger, row.Stage, row.ExecutionId, row.Status, row.Attempt, deadLetter.DeliveryCount, row.HeartbeatAt);
                    return null;
                }

                return AlertComposer.ForDeadLetter(deadLetter, row, topics, settings.ProjectId);
            default:
                throw new MessageRejectedException("attributes." + TakeoverAlertEvent.AlertAttribute, $"unknown alert kind '{kind}'");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "dead letter of {Stage} of execution {ExecutionId} not alerted: the ledger shows it {Status} (attempt {Attempt}, heartbeat {HeartbeatAt:O}); a duplicate delivery gave up after {DeliveryCount} attempts while the stage ran, not the stage")]
    private static partial void LogDuplicateGaveUp(ILogger logger, string stage, Guid executionId, string status, int attempt, int? deliveryCount, DateTimeOffset heartbeatAt);
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
