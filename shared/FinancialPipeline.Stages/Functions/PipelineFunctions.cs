using CloudNative.CloudEvents;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Hosting;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Runner;
using FinancialPipeline.Stages.Work;

namespace FinancialPipeline.Stages.Functions;

/// <summary>Extract (bronze), triggered by the start topic.</summary>
public sealed class ExtractFunction(StageRunner runner, DeferredWork<ExtractWork> work, StageTopics topics) : ICloudEventFunction<MessagePublishedData>
{
    public const string Name = "extract";

    public Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
    {
        var start = StartMessage.Parse(data.Message.Data);
        AttributeGuard.CheckTopic(cloudEvent, topics, Stage.Bronze, start.ExecutionId);
        AttributeGuard.Check(data, start.ExecutionId, start.JobName);
        return runner.RunAsync(work, new StageInput(start.ExecutionId, start.JobName, start.Window, Upstream: null), cancellationToken);
    }
}

/// <summary>Transform (silver), triggered by bronze-completed.</summary>
public sealed class TransformFunction(StageRunner runner, DeferredWork<TransformWork> work, StageTopics topics) : ICloudEventFunction<MessagePublishedData>
{
    public const string Name = "transform";

    public Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
    {
        return AttributeGuard.RunDownstreamAsync(runner, work, cloudEvent, data, topics, cancellationToken);
    }
}

/// <summary>Aggregate (gold), triggered by silver-completed.</summary>
public sealed class AggregateFunction(StageRunner runner, DeferredWork<AggregateWork> work, StageTopics topics) : ICloudEventFunction<MessagePublishedData>
{
    public const string Name = "aggregate";

    public Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
    {
        return AttributeGuard.RunDownstreamAsync(runner, work, cloudEvent, data, topics, cancellationToken);
    }
}

internal static class AttributeGuard
{
    /// <summary>Silver and gold: the trigger is the completion event of the stage upstream of <paramref name="work"/>.</summary>
    public static Task RunDownstreamAsync(StageRunner runner, IStageWork work, CloudEvent cloudEvent, MessagePublishedData data, StageTopics topics, CancellationToken cancellationToken)
    {
        var upstreamStage = work.Stage.Upstream() ?? throw new InvalidOperationException($"{work.Stage.ToWire()} has no upstream stage");
        var upstream = StageCompletedMessage.Parse(data.Message.Data, upstreamStage);
        CheckTopic(cloudEvent, topics, work.Stage, upstream.ExecutionId);
        Check(data, upstream.ExecutionId, upstream.JobName);
        return runner.RunAsync(work, new StageInput(upstream.ExecutionId, upstream.JobName, upstream.Window.ToWindow(), upstream), cancellationToken);
    }

    /// <summary>
    /// A message of another of the pipeline's topics never runs this stage (a bronze completion event pushed to Extract
    /// parses as a start message, and would start bronze again, and re-emit, for ever). The topic is the CloudEvent's
    /// source, <c>//pubsub.googleapis.com/projects/P/topics/T</c>, as Eventarc sets it and the host derives it from a
    /// raw push's path.
    /// </summary>
    public static void CheckTopic(CloudEvent cloudEvent, StageTopics topics, Stage stage, Guid executionId)
    {
        if (topics.WrongTrigger(stage, PubSubEventParser.TopicOf(cloudEvent)) is { } reason)
        {
            throw new MessageRejectedException("ce-source", reason).Of(executionId);
        }
    }

    /// <summary>
    /// Attributes are optional (a hand-written replay may omit them) but must agree with the body when set. A rejection
    /// is filed under the body's execution id, the one the message would have run, so <c>fp runs --execution-id</c> shows it.
    /// </summary>
    public static void Check(MessagePublishedData data, Guid executionId, string jobName)
    {
        if (data.Message.Attributes.TryGetValue("execution_id", out var id) && !string.Equals(id, executionId.ToString("D"), StringComparison.OrdinalIgnoreCase))
        {
            throw new MessageRejectedException("attributes.execution_id", $"'{id}' disagrees with the body's {executionId:D}").Of(executionId);
        }

        if (data.Message.Attributes.TryGetValue("job_name", out var job) && job != jobName)
        {
            throw new MessageRejectedException("attributes.job_name", $"'{job}' disagrees with the body's '{jobName}'").Of(executionId);
        }
    }
}
