using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Stages.Operations;

/// <summary>What a replay did: the rows reset and the event republished (topic and body).</summary>
public sealed record ReplayResult(IReadOnlyList<string> ResetStages, string Topic, string MessageId);

/// <summary>
/// The operator's actions against a running pipeline (local or deployed): publish a start message as the DAG
/// does, and replay a stage of an execution (reset its ledger rows, republish the stage's trigger event).
/// </summary>
public sealed class PipelineOperator(ExecutionLedger ledger, LedgerOperations operations, IPublisherClient publisher, StageTopics topics, TimeProvider time)
{
    public ExecutionLedger Ledger => ledger;

    public LedgerOperations Operations => operations;

    public StageTopics Topics => topics;

    public TimeProvider Time => time;

    /// <summary>Publishes a start message (a new execution id when none is given) to the start topic.</summary>
    public async Task<(StartMessage Message, string MessageId)> PublishStartAsync(string jobName, Guid? executionId, TimeWindow? window, CancellationToken cancellationToken)
    {
        var start = new StartMessage(executionId ?? Guid.NewGuid(), StartMessage.ValidJobName(jobName), time.GetUtcNow(), window);
        var ids = await publisher.PublishAsync(topics.Start, [new PubsubMessage(start.ToUtf8Json(), start.Attributes())], cancellationToken);
        return (start, ids[0]);
    }

    /// <summary>
    /// Re-runs <paramref name="stage"/> of <paramref name="executionId"/> and every stage after it: resets the rows
    /// under the execution's lock, then republishes the stage's trigger — the start message for bronze (with the
    /// pinned window of a backfill), the upstream stage's stored completion event otherwise.
    /// </summary>
    /// <exception cref="ReplayRefusedException">The stage runs now, or its upstream has not succeeded.</exception>
    /// <param name="checkWindow">See <see cref="LedgerOperations.ResetForReplayAsync"/>: a window Extract would refuse is refused here.</param>
    public async Task<ReplayResult> ReplayAsync(
        Guid executionId, Stage stage, string requestedBy, CancellationToken cancellationToken, Func<string, TimeWindow, CancellationToken, Task<string?>>? checkWindow = null)
    {
        var reset = await operations.ResetForReplayAsync(executionId, stage, requestedBy, cancellationToken, checkWindow);
        var (topic, message) = stage.Upstream() is { } upstream
            ? (topics.CompletedOf(upstream), UpstreamEvent(reset, upstream))
            : (topics.Start, StartEvent(executionId, reset));
        try
        {
            var ids = await publisher.PublishAsync(topic, [message], cancellationToken);
            return new ReplayResult(reset.ResetStages, topic, ids[0]);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new ReplayPublishFailedException(executionId, reset.ResetStages, topic, ex);
        }
    }

    private static PubsubMessage UpstreamEvent(ReplayReset reset, Stage upstream)
    {
        var body = Encoding.UTF8.GetBytes(reset.UpstreamCompletionJson!);
        return new PubsubMessage(body, StageCompletedMessage.Parse(body, upstream).Attributes());
    }

    private PubsubMessage StartEvent(Guid executionId, ReplayReset reset)
    {
        var start = new StartMessage(executionId, reset.JobName, time.GetUtcNow(), reset.BackfillWindow);
        return new PubsubMessage(start.ToUtf8Json(), start.Attributes());
    }
}

/// <summary>
/// The rows were reset but the trigger could not be published: nothing runs them until it is. Replaying again
/// publishes it (the reset is repeatable: the rows are FAILED, not running).
/// </summary>
public sealed class ReplayPublishFailedException(Guid executionId, IReadOnlyList<string> resetStages, string topic, Exception inner)
    : Exception($"reset {string.Join(", ", resetStages)}, but could not publish the trigger to {topic}: {inner.Message}", inner)
{
    public Guid ExecutionId => executionId;

    public IReadOnlyList<string> ResetStages => resetStages;

    public string Topic => topic;
}
