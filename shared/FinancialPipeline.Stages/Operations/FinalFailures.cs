using FinancialPipeline.Core.Contracts;
using FinancialPipeline.ControlDb;

namespace FinancialPipeline.Stages.Operations;

/// <summary>
/// Whether an execution someone is waiting on (<c>fp run</c>, <c>fp backfill</c>) can still finish by itself. It cannot
/// when a function rejected one of its messages (acknowledged, never redelivered), when a stage failed on every
/// delivery and was dead-lettered (only a replay runs it again), or when a stage succeeded but no delivery could publish
/// its completion event and its trigger was dead-lettered (only a re-emit starts the next stage): the wait ends at once
/// with the reason instead of at its timeout.
/// </summary>
public sealed class FinalFailures(RejectedMessageStore rejections, AlertNotificationStore alerts)
{
    /// <summary>Why the execution cannot finish by itself, or null while it still can.</summary>
    /// <param name="rows">The execution's ledger rows, as just read.</param>
    /// <param name="since">
    /// When the wait began: only rejections and dead letters from then on count. A backfill's execution id is derived
    /// from its window, so a rerun finds those of an earlier run under the same id.
    /// </param>
    public async Task<string?> ReasonAsync(Guid executionId, IReadOnlyList<ExecutionRow> rows, DateTimeOffset since, CancellationToken cancellationToken)
    {
        var rejected = (await rejections.ListByExecutionAsync(executionId, cancellationToken)).FirstOrDefault(r => r.ReceivedAt >= since);
        if (rejected is not null)
        {
            return $"{rejected.FunctionName} rejected the message: {rejected.Field}: {rejected.Reason}";
        }

        var stuck = rows.Where(r => r.Status is "FAILED" or "RUNNING" || r.CompletionUnpublished).ToList();
        if (stuck.Count == 0)
        {
            return null;
        }

        // The same test as fp runs: a dead-letter alert was raised for the stage's current attempt (the Alert function
        // posts an unpublished completion only once the row has settled, after it finished).
        var deadLettered = await alerts.DeadLetteredAsync([executionId], since, cancellationToken);
        if (stuck.FirstOrDefault(r => r.IsDeadLettered(deadLettered)) is { } gaveUp)
        {
            return gaveUp.Status == "RUNNING"
                ? $"{gaveUp.Stage}'s worker went silent (last heartbeat {PipelineJson.FormatUtc(gaveUp.HeartbeatAt)}) and its message was dead-lettered before a redelivery could take it over: only a replay runs it again"
                : $"{gaveUp.Stage} failed on every delivery and was dead-lettered: {gaveUp.Error}";
        }

        return stuck.FirstOrDefault(r => r.CompletionUnpublished && deadLettered.TryGetValue((executionId, r.Stage), out var at) && at >= r.FinishedAt) is { } unpublished
            ? $"{unpublished.Stage} succeeded but no delivery could publish its completion event, and its trigger was dead-lettered (alerted): the next stage has not run; once publishing works, fp publish --job {unpublished.JobName} --execution-id {executionId:D} re-emits it without redoing the work"
            : null;
    }
}
