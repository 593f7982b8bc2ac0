using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.PubSub;

/// <summary>Inputs of the topology: names come from the prefix, endpoints from where the functions run.</summary>
public sealed record TopologySettings
{
    public string Prefix { get; init; } = "fp-";

    public required string ProjectId { get; init; }

    public required Uri ExtractEndpoint { get; init; }

    public required Uri TransformEndpoint { get; init; }

    public required Uri AggregateEndpoint { get; init; }

    /// <summary>The Alert function; when set it gets push subscriptions on the dead-letter and alerts topics.</summary>
    public Uri? AlertEndpoint { get; init; }

    /// <summary>The stage subscriptions' ack deadline, also Cloud Run's request timeout, in the deployment.</summary>
    public const int DefaultAckDeadlineSeconds = 600;

    /// <summary>Also the push request timeout; keep each stage well under it.</summary>
    public int AckDeadlineSeconds { get; init; } = DefaultAckDeadlineSeconds;

    public RetryPolicySpec RetryPolicy { get; init; } = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(600));

    public int MaxDeliveryAttempts { get; init; } = 5;

    /// <summary>
    /// The zombie threshold the stage functions run with (their <c>FP_STALE_AFTER_SECONDS</c>): a stage's deliveries
    /// must outlast it, see <see cref="DeliverySchedule"/>.
    /// </summary>
    public required TimeSpan StaleAfter { get; init; }

    /// <summary>The stage functions' <c>FP_HEARTBEAT_SECONDS</c>: the margin on top of <see cref="StaleAfter"/>.</summary>
    public required TimeSpan HeartbeatInterval { get; init; }

    /// <summary>
    /// Waives the check that a stage's deliveries outlast <see cref="StaleAfter"/>. Only for tests of a message that
    /// fails on every delivery (a broken job): they shorten the retry policy so it is dead-lettered in seconds, and no
    /// worker of theirs dies mid-stage. A pipeline that runs real work never sets it.
    /// </summary>
    public bool AllowDeadLetterBeforeTakeover { get; init; }

    /// <summary>
    /// How long every subscription keeps a message nobody acknowledged before Pub/Sub drops it: on the Alert
    /// subscriptions (no dead-letter policy) how long Slack may be down, on the holds how long a dead letter or alert
    /// stays readable. It must outlast a stage's deliveries up to dead-lettering. Default Pub/Sub's maximum, 7 days;
    /// a subscription Eventarc creates keeps messages only 24 h until patched.
    /// </summary>
    public TimeSpan MessageRetention { get; init; } = SubscriptionSpec.MaxMessageRetention;
}

/// <summary>
/// The one definition of the pipeline's topics and subscriptions, used to set up the emulator and (later) to
/// generate the GCP deployment. Pure data: nothing here talks to Pub/Sub.
/// </summary>
public sealed record PipelineTopology
{
    public required string ProjectId { get; init; }

    public required string StartTopic { get; init; }

    public required string BronzeCompletedTopic { get; init; }

    public required string SilverCompletedTopic { get; init; }

    public required string GoldCompletedTopic { get; init; }

    public required string DeadLetterTopic { get; init; }

    /// <summary>Operational alerts that are not dead letters (zombie takeovers); pushed to the Alert function.</summary>
    public required string AlertsTopic { get; init; }

    public required string GoldCompletedWatchSubscription { get; init; }

    public required string DeadLetterHoldSubscription { get; init; }

    /// <summary>Pull subscription keeping every alert (zombie takeovers) readable, whatever became of the Alert function's post.</summary>
    public required string AlertsHoldSubscription { get; init; }

    public required IReadOnlyList<string> Topics { get; init; }

    public required IReadOnlyList<SubscriptionSpec> Subscriptions { get; init; }

    public static PipelineTopology Create(TopologySettings settings)
    {
        var p = settings.Prefix;
        var names = new StageTopics(p);
        var start = names.Start;
        var bronze = names.CompletedOf(Stage.Bronze);
        var silver = names.CompletedOf(Stage.Silver);
        var gold = names.CompletedOf(Stage.Gold);
        var dlq = names.DeadLetter;
        var alerts = names.Alerts;
        var deadLetter = new DeadLetterSpec(dlq, settings.MaxDeliveryAttempts);
        CheckRetention(settings);
        if (!settings.AllowDeadLetterBeforeTakeover
            && DeliverySchedule.TakeoverProblem(settings.RetryPolicy, settings.MaxDeliveryAttempts, settings.StaleAfter, settings.HeartbeatInterval) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), problem);
        }

        // Every subscription keeps undelivered messages for the settings' retention and is never deleted for idling.
        SubscriptionSpec Subscription(string id, string topic, Uri? endpoint, int ackDeadlineSeconds, RetryPolicySpec? retry, DeadLetterSpec? dead) =>
            new(id, topic, endpoint is null ? null : PushUrl(endpoint, settings.ProjectId, topic), ackDeadlineSeconds, retry, dead, settings.MessageRetention, NeverExpires: true);
        SubscriptionSpec Push(string id, string topic, Uri endpoint) =>
            Subscription(id, topic, endpoint, settings.AckDeadlineSeconds, settings.RetryPolicy, deadLetter);
        SubscriptionSpec Hold(string id, string topic) => Subscription(id, topic, null, 60, null, null);

        var subscriptions = new List<SubscriptionSpec>
        {
            Push(names.SubscriptionOf(Stage.Bronze), names.TriggerOf(Stage.Bronze), settings.ExtractEndpoint),
            Push(names.SubscriptionOf(Stage.Silver), names.TriggerOf(Stage.Silver), settings.TransformEndpoint),
            Push(names.SubscriptionOf(Stage.Gold), names.TriggerOf(Stage.Gold), settings.AggregateEndpoint),
            Hold(p + "gold-completed-watch", gold),
            Hold(p + "dead-letter-hold", dlq),
            Hold(p + "alerts-hold", alerts),
        };
        if (settings.AlertEndpoint is { } alert)
        {
            // No dead-letter policy on the Alert function's own subscriptions: a Slack outage is retried until it ends,
            // or until the message retention runs out.
            subscriptions.Add(Subscription(p + "alert", dlq, alert, 60, settings.RetryPolicy, null));
            subscriptions.Add(Subscription(p + "alert-events", alerts, alert, 60, settings.RetryPolicy, null));
        }

        return new PipelineTopology
        {
            ProjectId = settings.ProjectId,
            StartTopic = start,
            BronzeCompletedTopic = bronze,
            SilverCompletedTopic = silver,
            GoldCompletedTopic = gold,
            DeadLetterTopic = dlq,
            AlertsTopic = alerts,
            GoldCompletedWatchSubscription = p + "gold-completed-watch",
            DeadLetterHoldSubscription = p + "dead-letter-hold",
            AlertsHoldSubscription = p + "alerts-hold",
            Topics = names.All,
            Subscriptions = subscriptions,
        };
    }

    /// <summary>
    /// The longest a stage's message can take to be delivered or dead-lettered: every attempt waits the ack deadline,
    /// then the longest backoff. A retention shorter than that drops a message instead of dead-lettering it.
    /// </summary>
    private static TimeSpan LongestDeliveryTime(TopologySettings settings) =>
        settings.MaxDeliveryAttempts * (TimeSpan.FromSeconds(settings.AckDeadlineSeconds) + settings.RetryPolicy.MaximumBackoff);

    private static void CheckRetention(TopologySettings settings)
    {
        var retention = settings.MessageRetention;
        if (retention < SubscriptionSpec.MinMessageRetention || retention > SubscriptionSpec.MaxMessageRetention)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), $"MessageRetention: {retention} is outside the 10 minutes to 7 days the pipeline allows (the retention floors of fp prune and the bronze lifecycle rule assume at most 7 days)");
        }

        if (retention < LongestDeliveryTime(settings))
        {
            throw new ArgumentOutOfRangeException(
                nameof(settings),
                $"MessageRetention: {retention} is shorter than {settings.MaxDeliveryAttempts} deliveries of up to {settings.AckDeadlineSeconds} s with backoffs of up to {settings.RetryPolicy.MaximumBackoff.TotalSeconds} s ({LongestDeliveryTime(settings)}): messages would be dropped before they are dead-lettered");
        }
    }

    /// <summary>Hosts infer the topic from a <c>/projects/P/topics/T</c> push path, as the Functions Framework does.</summary>
    public static string PushUrl(Uri endpoint, string projectId, string topicId) =>
        new Uri(endpoint, $"/projects/{projectId}/topics/{topicId}").ToString();
}

/// <summary>Creates (idempotently) or deletes a topology.</summary>
public static class TopologyApplier
{
    public static async Task ApplyAsync(PipelineTopology topology, IPublisherClient publisher, ISubscriberClient subscriber, CancellationToken cancellationToken = default)
    {
        foreach (var topic in topology.Topics)
        {
            await publisher.EnsureTopicAsync(topic, cancellationToken);
        }

        foreach (var subscription in topology.Subscriptions)
        {
            await subscriber.EnsureSubscriptionAsync(subscription, cancellationToken);
        }
    }

    public static async Task DeleteAsync(PipelineTopology topology, IPublisherClient publisher, ISubscriberClient subscriber, CancellationToken cancellationToken = default)
    {
        foreach (var subscription in topology.Subscriptions)
        {
            await subscriber.DeleteSubscriptionAsync(subscription.SubscriptionId, cancellationToken);
        }

        foreach (var topic in topology.Topics)
        {
            await publisher.DeleteTopicAsync(topic, cancellationToken);
        }
    }
}
