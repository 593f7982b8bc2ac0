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
    public async Task<ReplayResult> ReplayAsync(Guid executionId, Stage stage, string requestedBy, CancellationToken cancellationToken)
    {
        var reset = await operations.ResetForReplayAsync(executionId, stage, requestedBy, cancellationToken);
        if (stage.Upstream() is { } upstream)
        {
            var body = Encoding.UTF8.GetBytes(reset.UpstreamCompletionJson!);
            var completion = StageCompletedMessage.Parse(body, upstream);
            var topic = topics.CompletedOf(upstream);
            var ids = await publisher.PublishAsync(topic, [new PubsubMessage(body, completion.Attributes())], cancellationToken);
            return new ReplayResult(reset.ResetStages, topic, ids[0]);
        }

        var start = new StartMessage(executionId, reset.JobName, time.GetUtcNow(), reset.BackfillWindow);
        var startIds = await publisher.PublishAsync(topics.Start, [new PubsubMessage(start.ToUtf8Json(), start.Attributes())], cancellationToken);
        return new ReplayResult(reset.ResetStages, topics.Start, startIds[0]);
    }
}
