namespace FinancialPipeline.PubSub;

/// <summary>A message to publish; shaped like Google.Cloud.PubSub.V1.PubsubMessage.</summary>
public sealed record PubsubMessage(ReadOnlyMemory<byte> Data, IReadOnlyDictionary<string, string> Attributes, string? OrderingKey = null);

/// <summary>A message returned by a pull, with its ack id.</summary>
public sealed record ReceivedMessage(
    string AckId,
    string MessageId,
    ReadOnlyMemory<byte> Data,
    IReadOnlyDictionary<string, string> Attributes,
    DateTimeOffset? PublishTime,
    int DeliveryAttempt);

/// <summary>Retry policy of a subscription (Pub/Sub: each 0–600 s).</summary>
public sealed record RetryPolicySpec(TimeSpan MinimumBackoff, TimeSpan MaximumBackoff);

/// <summary>Dead-letter policy of a subscription (Pub/Sub: 5–100 attempts).</summary>
public sealed record DeadLetterSpec(string DeadLetterTopicId, int MaxDeliveryAttempts);

/// <summary>A subscription as data: push when <see cref="PushEndpoint"/> is set, pull otherwise.</summary>
/// <param name="MessageRetention">
/// How long an unacknowledged message is kept before Pub/Sub drops it (10 min–7 d); null leaves the creator's default
/// (7 d for Pub/Sub, 24 h on a subscription Eventarc creates).
/// </param>
/// <param name="NeverExpires">Keep the subscription however long it idles (otherwise Pub/Sub deletes it after 31 idle days).</param>
public sealed record SubscriptionSpec(
    string SubscriptionId,
    string TopicId,
    string? PushEndpoint,
    int AckDeadlineSeconds,
    RetryPolicySpec? RetryPolicy,
    DeadLetterSpec? DeadLetter,
    TimeSpan? MessageRetention = null,
    bool NeverExpires = false)
{
    /// <summary>The shortest message retention Pub/Sub accepts on a subscription.</summary>
    public static readonly TimeSpan MinMessageRetention = TimeSpan.FromMinutes(10);

    /// <summary>The longest message retention the pipeline gives a subscription (Pub/Sub's default; Pub/Sub itself allows longer): the 8-day floors of fp prune and the bronze lifecycle rule rest on it.</summary>
    public static readonly TimeSpan MaxMessageRetention = TimeSpan.FromDays(7);
}

/// <summary>Publishing and topic administration; shaped like PublisherServiceApiClient.</summary>
public interface IPublisherClient
{
    /// <summary>Full resource name, <c>projects/{project}/topics/{topic}</c>.</summary>
    string TopicName(string topicId);

    /// <summary>Publishes in request order, split into requests of at most 1000 messages and 10 MB; returns message ids.</summary>
    Task<IReadOnlyList<string>> PublishAsync(string topicId, IReadOnlyList<PubsubMessage> messages, CancellationToken cancellationToken = default);

    /// <summary>Creates the topic; an existing topic (409) is fine.</summary>
    Task EnsureTopicAsync(string topicId, CancellationToken cancellationToken = default);

    /// <summary>Deletes the topic; a missing topic (404) is fine.</summary>
    Task DeleteTopicAsync(string topicId, CancellationToken cancellationToken = default);
}

/// <summary>Subscription administration and pull; shaped like SubscriberServiceApiClient.</summary>
public interface ISubscriberClient
{
    string SubscriptionName(string subscriptionId);

    /// <summary>Creates the subscription; an existing one on the same topic is updated to the spec, one on another topic is an error.</summary>
    Task EnsureSubscriptionAsync(SubscriptionSpec spec, CancellationToken cancellationToken = default);

    Task DeleteSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default);

    /// <summary>One pull; returns what is available (possibly nothing) without waiting long.</summary>
    Task<IReadOnlyList<ReceivedMessage>> PullAsync(string subscriptionId, int maxMessages, CancellationToken cancellationToken = default);

    Task AcknowledgeAsync(string subscriptionId, IReadOnlyCollection<string> ackIds, CancellationToken cancellationToken = default);
}

/// <summary>Pub/Sub failed in a way a retry of the whole request may fix (5xx, 429, network).</summary>
public sealed class PubSubException : Exception
{
    public PubSubException(string message, int? statusCode = null, Exception? innerException = null)
        : base(message, innerException)
    {
        StatusCode = statusCode;
    }

    public PubSubException()
    {
    }

    public PubSubException(string message)
        : base(message)
    {
    }

    public PubSubException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public int? StatusCode { get; }
}
