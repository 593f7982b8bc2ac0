namespace FinancialPipeline.Hosting;

/// <summary>The Pub/Sub message inside a <c>messagePublished</c> event (google.events.cloud.pubsub.v1.PubsubMessage).</summary>
public sealed record PubsubMessageData(
    ReadOnlyMemory<byte> Data,
    IReadOnlyDictionary<string, string> Attributes,
    string MessageId,
    DateTimeOffset? PublishTime,
    string? OrderingKey);

/// <summary>google.events.cloud.pubsub.v1.MessagePublishedData: the message, its subscription and delivery attempt (0 when no dead-letter policy).</summary>
public sealed record MessagePublishedData(PubsubMessageData Message, string? Subscription, int DeliveryAttempt);
