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

    /// <summary>Also the push request timeout; keep each stage well under it.</summary>
    public int AckDeadlineSeconds { get; init; } = 600;

    public RetryPolicySpec RetryPolicy { get; init; } = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(600));

    public int MaxDeliveryAttempts { get; init; } = 5;
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
        SubscriptionSpec Push(string id, string topic, Uri endpoint) =>
            new(id, topic, PushUrl(endpoint, settings.ProjectId, topic), settings.AckDeadlineSeconds, settings.RetryPolicy, deadLetter);

        var subscriptions = new List<SubscriptionSpec>
        {
            Push(names.SubscriptionOf(Stage.Bronze), names.TriggerOf(Stage.Bronze), settings.ExtractEndpoint),
            Push(names.SubscriptionOf(Stage.Silver), names.TriggerOf(Stage.Silver), settings.TransformEndpoint),
            Push(names.SubscriptionOf(Stage.Gold), names.TriggerOf(Stage.Gold), settings.AggregateEndpoint),
            new(p + "gold-completed-watch", gold, null, 60, null, null),
            new(p + "dead-letter-hold", dlq, null, 60, null, null),
        };
        if (settings.AlertEndpoint is { } alert)
        {
            // No dead-letter policy on the Alert function's own subscriptions: a Slack outage is retried until it ends.
            subscriptions.Add(new(p + "alert", dlq, PushUrl(alert, settings.ProjectId, dlq), 60, settings.RetryPolicy, null));
            subscriptions.Add(new(p + "alert-events", alerts, PushUrl(alert, settings.ProjectId, alerts), 60, settings.RetryPolicy, null));
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
            Topics = [start, bronze, silver, gold, dlq, alerts],
            Subscriptions = subscriptions,
        };
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
