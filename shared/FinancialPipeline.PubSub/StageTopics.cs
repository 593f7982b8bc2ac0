using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.PubSub;

/// <summary>
/// The naming convention of the pipeline's topics and stage subscriptions, derived from one prefix. The one place
/// it is written: <see cref="PipelineTopology"/> creates what these name, and the stages, the Alert function and
/// the operator CLI publish to and recognise them.
/// </summary>
public sealed record StageTopics(string Prefix)
{
    public string Start => Prefix + "start";

    public string DeadLetter => Prefix + "dead-letter";

    /// <summary>Operational alerts that are not dead letters (zombie takeovers), consumed by the Alert function.</summary>
    public string Alerts => Prefix + "alerts";

    public string CompletedOf(Stage stage) => Prefix + stage.ToWire() + "-completed";

    /// <summary>Every topic of the pipeline, in the order the topology creates them.</summary>
    public IReadOnlyList<string> All => [Start, CompletedOf(Stage.Bronze), CompletedOf(Stage.Silver), CompletedOf(Stage.Gold), DeadLetter, Alerts];

    /// <summary>The topic whose messages trigger <paramref name="stage"/>: where a replay of its trigger is published.</summary>
    public string TriggerOf(Stage stage) => stage.Upstream() is { } upstream ? CompletedOf(upstream) : Start;

    /// <summary>
    /// Why a message published to <paramref name="topicId"/> must not run <paramref name="stage"/>: it is another of the
    /// pipeline's topics (a subscription wired to the wrong function, or a replay published to the wrong topic). Null
    /// for the stage's own trigger, and for a topic the pipeline does not name (unknown, or another deployment's).
    /// </summary>
    public string? WrongTrigger(Stage stage, string? topicId)
    {
        if (topicId is null || topicId == TriggerOf(stage))
        {
            return null;
        }

        return All.Contains(topicId, StringComparer.Ordinal)
            ? $"the message was published to {topicId}, but {stage.ToWire()} runs on messages of {TriggerOf(stage)}: a subscription or a replay is wired to the wrong topic"
            : null;
    }

    /// <summary>The push subscription that delivers <paramref name="stage"/>'s trigger to its function.</summary>
    public string SubscriptionOf(Stage stage) => Prefix + stage switch
    {
        Stage.Bronze => "extract",
        Stage.Silver => "transform",
        Stage.Gold => "aggregate",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "not a pipeline stage"),
    };

    /// <summary>
    /// The Eventarc trigger that carries <paramref name="subscriptionId"/>'s messages in the cloud. Eventarc creates
    /// its own subscription for a trigger, named <c>eventarc-REGION-TRIGGER-sub-NNN</c>, and that is the name a dead
    /// letter's source-subscription attribute carries there.
    /// </summary>
    public static string TriggerOfSubscription(string subscriptionId) => subscriptionId + "-trigger";

    /// <summary>
    /// The stage whose push subscription is <paramref name="subscriptionId"/>, if it is one: the topology's own name
    /// (the emulator, a push subscription created by hand) or the subscription Eventarc created for its trigger.
    /// </summary>
    public Stage? StageOfSubscription(string? subscriptionId)
    {
        if (subscriptionId is null)
        {
            return null;
        }

        foreach (var stage in Enum.GetValues<Stage>())
        {
            var own = SubscriptionOf(stage);
            if (subscriptionId == own || IsEventarcSubscriptionOf(subscriptionId, TriggerOfSubscription(own)))
            {
                return stage;
            }
        }

        return null;
    }

    /// <summary><c>eventarc-{region}-{trigger}-sub-{digits}</c>, with a region that is not empty.</summary>
    private static bool IsEventarcSubscriptionOf(string subscriptionId, string trigger)
    {
        const string Head = "eventarc-";
        const string Sub = "-sub-";
        var sub = subscriptionId.LastIndexOf(Sub, StringComparison.Ordinal);
        if (!subscriptionId.StartsWith(Head, StringComparison.Ordinal) || sub < 0
            || sub + Sub.Length == subscriptionId.Length || subscriptionId.AsSpan(sub + Sub.Length).ContainsAnyExceptInRange('0', '9'))
        {
            return false;
        }

        var regionAndTrigger = subscriptionId.AsSpan(Head.Length, sub - Head.Length);
        return regionAndTrigger.Length > trigger.Length + 1
            && regionAndTrigger.EndsWith(trigger, StringComparison.Ordinal)
            && regionAndTrigger[regionAndTrigger.Length - trigger.Length - 1] == '-';
    }
}
