using FinancialPipeline.ControlDb;

namespace FinancialPipeline.Stages.Operations;

/// <summary>
/// Whether an execution someone is waiting on (<c>fp run</c>, <c>fp backfill</c>) can still finish by itself. It cannot
/// when a function rejected one of its messages (acknowledged, never redelivered) or when a stage failed on every
/// delivery and was dead-lettered (only a replay runs it again): the wait ends at once with the reason instead of at
/// its timeout.
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

        var failed = rows.Where(r => r.Status == "FAILED").ToList();
        if (failed.Count == 0)
        {
            return null;
        }

        // The same test as fp runs: a dead-letter alert was raised for the failed stage's current attempt.
        var deadLettered = await alerts.DeadLetteredAsync([executionId], since, cancellationToken);
        return failed.FirstOrDefault(r => r.IsDeadLettered(deadLettered)) is { } gaveUp
            ? $"{gaveUp.Stage} failed on every delivery and was dead-lettered: {gaveUp.Error}"
            : null;
    }
}
