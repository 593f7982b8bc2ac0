using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Hosting;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Alerts;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Retry;

namespace FinancialPipeline.Stages.Runner;

/// <summary>
/// The one code path every stage follows (ARCHITECTURE.md, stage rules): validate the job and the input, claim
/// (execution_id, stage), heartbeat inside the request, do the work, mark SUCCESS, publish the completion
/// event, record that it went out, and only then return (2xx). Already SUCCESS → re-publish the stored event;
/// fresh RUNNING → retry later; failure → FAILED and rethrow (5xx, redelivered with backoff, then dead-lettered).
/// </summary>
public sealed partial class StageRunner(
    ExecutionLedger ledger,
    JobConfigRepository jobs,
    Lazy<IPublisherClient> publisher,
    StageTopics topics,
    TimeProvider time,
    ILogger<StageRunner> logger)
{
    /// <summary>The ledger's error text for a stage whose request was cancelled before it finished.</summary>
    public const string AbortedError = "aborted: the request was cancelled before the stage finished (the push deadline passed, the caller went away, or the instance is shutting down); the next delivery retries it";

    /// <summary>How long a failed stage keeps trying to mark its row FAILED while the control database does not answer.</summary>
    public TimeSpan FailureRecordingBudget { get; init; } = TimeSpan.FromSeconds(15);

    public async Task RunAsync(IStageWork work, StageInput input, CancellationToken cancellationToken)
    {
        var stage = work.Stage;
        var identifiers = new LogScope(
            ("execution_id", input.ExecutionId.ToString("D")),
            ("stage", stage.ToWire()),
            ("job_name", input.JobName));
        using var scope = logger.BeginScope(identifiers);
        EventLogContext.Describe(identifiers); // the host's lines for this request (failed, rejected, handled) carry them too

        JobConfig? job = null;
        JobConfigException? configError = null;
        try
        {
            job = await jobs.FindAsync(input.JobName, cancellationToken)
                ?? throw new MessageRejectedException("job_name", $"unknown job '{input.JobName}'");
            if (!job.Active)
            {
                throw new MessageRejectedException("job_name", $"job '{input.JobName}' is inactive");
            }
        }
        catch (JobConfigException ex)
        {
            configError = ex;
        }

        if (job is not null)
        {
            // An input that can never run is rejected here, before the claim: no ledger row claims it is retryable.
            work.RejectUnrunnable(job, input);
        }

        var claim = await ledger.ClaimAsync(
            new ClaimRequest(input.ExecutionId, stage, input.JobName, job is null ? null : string.Join(',', job.Tickers), job?.IntervalSeconds, job?.OverlapSeconds, job?.BucketName, stage == Stage.Bronze ? input.RequestedWindow : null),
            cancellationToken);
        switch (claim.Outcome)
        {
            case ClaimOutcome.AlreadySucceeded:
                LogReemit(logger, claim.Attempt);
                // The stored event is parsed (and so validated) before it goes out again.
                var stored = Encoding.UTF8.GetBytes(claim.CompletionJson ?? throw new InvalidOperationException("SUCCESS row without completion event"));
                await PublishAsync(stage, StageCompletedMessage.Parse(stored, stage), stored, claim.Attempt, claim.CompletionPublished, cancellationToken);
                return;
            case ClaimOutcome.OtherJob:
                // Never claimed, so acked and recorded like any other message that can never succeed.
                throw new MessageRejectedException(
                    "execution_id",
                    $"belongs to job '{claim.JobName}', not '{input.JobName}': a message can only re-run its own job's execution (fp runs --execution-id {input.ExecutionId:D} shows it; fp publish --job {input.JobName} starts a new one)");
            case ClaimOutcome.Busy:
                throw new RetryLaterException($"{stage.ToWire()} of {input.ExecutionId} is running elsewhere (heartbeat {claim.HeartbeatAt:O})");
        }

        var lease = claim.Lease!;
        LogClaimed(logger, lease.Attempt, lease.ClaimReason);
        var (completion, json) = await RunClaimedAsync(work, lease, job, configError, input, cancellationToken);
        LogSucceeded(logger, lease.Attempt, completion.Records.In, completion.Records.Written, completion.Records.Rejected);
        await PublishAsync(stage, completion, json, lease.Attempt, recorded: false, cancellationToken);
    }

    /// <summary>
    /// Everything between the claim and the SUCCESS commit. Whatever ends it early marks the row FAILED, so the
    /// next delivery retries at once with attempt + 1: an exception from the work, a bad config row, and also a
    /// cancelled request (the push deadline passed, the client went away, the instance is shutting down). Left
    /// RUNNING, such a row would answer 409 to every redelivery until its heartbeat went stale and would then be
    /// reported as a zombie. A worker that lost its lease is the exception: the row is the new owner's.
    /// </summary>
    private async Task<(StageCompletedMessage Completion, byte[] Json)> RunClaimedAsync(
        IStageWork work, Lease lease, JobConfig? job, JobConfigException? configError, StageInput input, CancellationToken cancellationToken)
    {
        var stage = work.Stage;
        try
        {
            if (lease.ClaimReason == "takeover")
            {
                await ReportTakeoverAsync(input, lease, cancellationToken);
            }

            if (configError is not null)
            {
                throw configError;
            }

            StageOutcome outcome;
            try
            {
                outcome = await ExecuteWithHeartbeatAsync(work, lease, job!, input, cancellationToken);
            }
            catch (MessageRejectedException ex)
            {
                // Acked, a message would never come back to the row this marks FAILED, which fp runs shows as retried:
                // after the claim a rejection fails the stage like any other error (redelivered, then dead-lettered).
                throw new InvalidOperationException($"{ex.Message} (found after the claim, so a failure, not a rejection)", ex);
            }

            var completion = new StageCompletedMessage
            {
                ExecutionId = input.ExecutionId,
                JobName = input.JobName,
                Stage = stage.ToWire(),
                Window = WindowDto.From(outcome.Window),
                Records = outcome.Records,
                Outputs = outcome.Outputs,
                TouchedDates = outcome.TouchedDates,
                Metrics = outcome.Metrics,
                FailedTickers = outcome.FailedTickers,
                Tickers = outcome.Tickers,
                NewestTimestamp = outcome.NewestTimestamp,
                Attempt = lease.Attempt,
                CompletedAt = time.GetUtcNow(),
            };
            var json = completion.ToUtf8Json();
            var committed = await ledger.CompleteAsync(
                lease,
                new StageSuccess(outcome.Window, outcome.Outputs, outcome.Records.Written, outcome.Metrics, Encoding.UTF8.GetString(json)) { RestatedSplits = outcome.RestatedSplits },
                cancellationToken);
            if (!committed)
            {
                throw new RetryLaterException($"lost ownership of {stage.ToWire()} before commit; the new owner finishes it");
            }

            return (completion, json);
        }
        catch (Exception ex) when (ex is not RetryLaterException)
        {
            var aborted = ex is OperationCanceledException && cancellationToken.IsCancellationRequested;
            var error = aborted ? AbortedError : ex is JobConfigException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
            var (recorded, dbError) = await RecordFailureAsync(lease, error);
            if (recorded is true)
            {
                if (aborted)
                {
                    LogAborted(logger, lease.Attempt);
                }
                else
                {
                    LogFailed(logger, ex, lease.Attempt);
                }
            }
            else if (recorded is false)
            {
                LogFailedNotOwned(logger, ex, lease.Attempt);
            }
            else
            {
                LogFailedUnrecorded(logger, ex, lease.Attempt, (int)FailureRecordingBudget.TotalSeconds, dbError?.Message, (int)Math.Ceiling(ledger.Options.StaleAfter.TotalSeconds));
            }

            // The original error, never the control database's: the host answers 500 with it.
            throw;
        }
    }

    /// <summary>
    /// Marks the row FAILED, retrying with backoff for <see cref="FailureRecordingBudget"/>: the control database may be
    /// briefly unreachable, and after an outage the pool hands out connections that died meanwhile, one failure each.
    /// Not on the request's token: the row must be released even when the request is gone. True when marked, false when
    /// the row is no longer this lease's RUNNING row, null (with the last error) when the database never answered.
    /// </summary>
    private async Task<(bool? Recorded, Exception? LastError)> RecordFailureAsync(Lease lease, string error)
    {
        Exception? lastError = null;
        void Noted(Exception dbError)
        {
            LogFailureNotRecordedYet(logger, dbError, lease.Attempt);
            lastError = dbError is OperationCanceledException && lastError is not null ? lastError : dbError; // the budget's own cancellation says nothing
        }

        var retry = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = int.MaxValue, // bounded by the budget
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = TimeSpan.FromMilliseconds(250),
                MaxDelay = TimeSpan.FromSeconds(4),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && IsControlDbFailure(e)),
                OnRetry = args =>
                {
                    Noted(args.Outcome.Exception!);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        using var budget = new CancellationTokenSource(FailureRecordingBudget, time);
        try
        {
            return (await retry.ExecuteAsync(async ct => await ledger.FailAsync(lease, error, ct), budget.Token), null);
        }
        catch (Exception dbError) when (IsControlDbFailure(dbError))
        {
            if (dbError is not OperationCanceledException || !budget.IsCancellationRequested)
            {
                Noted(dbError); // the attempt Polly did not retry because the budget had run out
            }

            return (null, lastError);
        }
    }

    /// <summary>What the control database not answering looks like (the budget's own cancellation included).</summary>
    private static bool IsControlDbFailure(Exception ex) => ex is NpgsqlException or OperationCanceledException or TimeoutException or IOException;

    private async Task<StageOutcome> ExecuteWithHeartbeatAsync(IStageWork work, Lease lease, JobConfig job, StageInput input, CancellationToken requestAborted)
    {
        using var lost = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        using var stopHeartbeat = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(lease, lost, stopHeartbeat.Token);
        try
        {
            var context = new StageContext(ledger, lease, job, input, lost.Token);
            return await work.ExecuteAsync(context);
        }
        catch (Exception ex) when (ex is LeaseLostException || (ex is OperationCanceledException && lost.IsCancellationRequested && !requestAborted.IsCancellationRequested))
        {
            LogLeaseLost(logger, lease.Attempt);
            throw new RetryLaterException($"lost ownership of {lease.Stage.ToWire()} attempt {lease.Attempt}; stopped writing");
        }
        finally
        {
            await stopHeartbeat.CancelAsync();
            await heartbeat;
        }
    }

    /// <summary>Runs inside the request (Cloud Run throttles CPU outside requests); cancels the work when the lease is lost.</summary>
    private async Task HeartbeatAsync(Lease lease, CancellationTokenSource lost, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(ledger.Options.HeartbeatInterval, time);
        var failures = 0;
        var lastBeat = time.GetUtcNow();
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                bool owned;
                try
                {
                    owned = await ledger.HeartbeatAsync(lease, stop);
                }
                catch (Npgsql.NpgsqlException ex)
                {
                    // A DB blip must not kill the work; the next tick tries again (staleness allows several misses).
                    // One line on the first miss and every fifth after it, not a stack trace every tick of an outage.
                    failures++;
                    LogHeartbeatErrorDetail(logger, ex, lease.Attempt, failures);
                    if (failures % 5 == 1)
                    {
                        var silent = time.GetUtcNow() - lastBeat;
                        LogHeartbeatError(logger, lease.Attempt, failures, silent.TotalSeconds, ledger.Options.StaleAfter.TotalSeconds, ex.GetType().Name, ex.Message);
                    }

                    continue;
                }

                if (failures > 0)
                {
                    LogHeartbeatRecovered(logger, lease.Attempt, failures);
                    failures = 0;
                }

                lastBeat = time.GetUtcNow();
                if (!owned)
                {
                    await lost.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// A takeover means a worker died or hung mid-stage: tell the Alert function (alerts topic → Slack). The alert
    /// must not cost the data: if publishing fails (after the client's retries) the takeover is logged at Error and
    /// the stage goes on; the ledger keeps claim_reason = 'takeover' either way.
    /// </summary>
    private async Task ReportTakeoverAsync(StageInput input, Lease lease, CancellationToken cancellationToken)
    {
        var staleAfter = (int)Math.Ceiling(ledger.Options.StaleAfter.TotalSeconds);
        var takeover = new TakeoverAlertEvent(input.ExecutionId, input.JobName, lease.Stage, lease.Attempt, staleAfter, time.GetUtcNow(), lease.PreviousHeartbeatAt);
        LogTakeover(logger, lease.Attempt - 1, takeover.Silence?.TotalSeconds ?? double.NaN, staleAfter, lease.Attempt);
        try
        {
            await publisher.Value.PublishAsync(topics.Alerts, [new PubsubMessage(takeover.ToUtf8Json(), takeover.Attributes())], cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Any failure, a client timeout (TaskCanceledException) included; only the request's own cancellation
            // ends the stage (and marks it FAILED).
            LogTakeoverAlertFailed(logger, ex, topics.Alerts);
        }
    }

    /// <summary>
    /// Publishes the completion event of <paramref name="attempt"/>, then records the first publish that succeeded in the
    /// ledger (<c>completion_published_at</c>). A failed publish is recorded too (<c>completion_publish_failed_at</c>) and
    /// throws (5xx: the trigger is redelivered and re-emits): a SUCCESS row whose publish failed and never succeeded since
    /// is a stage whose event never went out, which the Alert function reports when the trigger is dead-lettered. A
    /// failure to record either does not change the answer; it is logged.
    /// </summary>
    /// <param name="recorded">The ledger already records a successful publish (a re-emit of a published event): no update.</param>
    private async Task PublishAsync(Stage stage, StageCompletedMessage message, byte[] completionJson, int attempt, bool recorded, CancellationToken cancellationToken)
    {
        var topic = topics.CompletedOf(stage);
        try
        {
            await publisher.Value.PublishAsync(topic, [new PubsubMessage(completionJson, message.Attributes())], cancellationToken);
        }
        catch (Exception ex) when (!recorded && !cancellationToken.IsCancellationRequested && ex is not OperationCanceledException)
        {
            try
            {
                // Not the request's token: the publish failed, the request has not; the record must not be cut short.
                await ledger.MarkCompletionPublishFailedAsync(message.ExecutionId, stage, attempt, CancellationToken.None);
            }
            catch (Exception recordFailure) when (IsControlDbFailure(recordFailure))
            {
                LogPublishFailureNotRecorded(logger, recordFailure, topic, attempt);
            }

            throw;
        }

        LogPublished(logger, topic);
        if (recorded)
        {
            return;
        }

        try
        {
            await ledger.MarkCompletionPublishedAsync(message.ExecutionId, stage, attempt, cancellationToken);
        }
        catch (Exception ex) when (IsControlDbFailure(ex))
        {
            LogPublishNotRecorded(logger, ex, topic, attempt);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "claimed, attempt {Attempt} ({Reason})")]
    private static partial void LogClaimed(ILogger logger, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "zombie takeover: attempt {PreviousAttempt}'s worker last heartbeated {SilentSeconds:F0} s ago (stale after {StaleAfterSeconds} s); attempt {Attempt} re-runs the stage")]
    private static partial void LogTakeover(ILogger logger, int previousAttempt, double silentSeconds, int staleAfterSeconds, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "could not publish the zombie-takeover alert to {Topic}; the takeover is only in this log and the ledger")]
    private static partial void LogTakeoverAlertFailed(ILogger logger, Exception exception, string topic);

    [LoggerMessage(Level = LogLevel.Information, Message = "already SUCCESS (attempt {Attempt}): re-emitting the stored completion event")]
    private static partial void LogReemit(ILogger logger, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "SUCCESS attempt {Attempt}: {In} in, {Written} written, {Rejected} rejected")]
    private static partial void LogSucceeded(ILogger logger, int attempt, long @in, long written, long rejected);

    [LoggerMessage(Level = LogLevel.Information, Message = "completion event published to {Topic}")]
    private static partial void LogPublished(ILogger logger, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "completion event not published to {Topic}, and the ledger could not record that (attempt {Attempt}): a dead letter of this stage's trigger would be taken for a duplicate's and not alerted")]
    private static partial void LogPublishFailureNotRecorded(ILogger logger, Exception exception, string topic, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "completion event published to {Topic}, but the ledger could not record it (attempt {Attempt}): the next stage runs; a dead letter of this stage's trigger would be alerted as an unpublished completion")]
    private static partial void LogPublishNotRecorded(ILogger logger, Exception exception, string topic, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "attempt {Attempt} lost its lease to another worker; stopped")]
    private static partial void LogLeaseLost(ILogger logger, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "attempt {Attempt} stopped: the request was aborted; marked FAILED so the next delivery retries at once")]
    private static partial void LogAborted(ILogger logger, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "attempt {Attempt} failed; marked FAILED")]
    private static partial void LogFailed(ILogger logger, Exception exception, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "attempt {Attempt} failed; not marked FAILED: the row is no longer this attempt's (another worker took it over or an operator reset it)")]
    private static partial void LogFailedNotOwned(ILogger logger, Exception exception, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "attempt {Attempt} failed and could not be marked FAILED: the control database did not answer for {BudgetSeconds} s ({DbError}); the row stays RUNNING until its heartbeat is stale (after {StaleAfterSeconds} s), when a later delivery of the message takes it over; if Pub/Sub dead-letters it first, the alert asks for a replay")]
    private static partial void LogFailedUnrecorded(ILogger logger, Exception exception, int attempt, int budgetSeconds, string? dbError, int staleAfterSeconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "attempt {Attempt}: marking it FAILED did not reach the control database; retrying")]
    private static partial void LogFailureNotRecordedYet(ILogger logger, Exception exception, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "attempt {Attempt}: heartbeat failed ({Failures} in a row, none written for {SilentSeconds:F0} s; the row goes stale after {StaleAfterSeconds:F0} s): {ErrorType}: {Error}; retrying every tick")]
    private static partial void LogHeartbeatError(ILogger logger, int attempt, int failures, double silentSeconds, double staleAfterSeconds, string errorType, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "attempt {Attempt}: heartbeat failure {Failures}")]
    private static partial void LogHeartbeatErrorDetail(ILogger logger, Exception exception, int attempt, int failures);

    [LoggerMessage(Level = LogLevel.Information, Message = "attempt {Attempt}: heartbeat written again after {Failures} failure(s)")]
    private static partial void LogHeartbeatRecovered(ILogger logger, int attempt, int failures);
}
