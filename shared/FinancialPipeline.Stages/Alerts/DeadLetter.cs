using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.PubSub;
using FinancialPipeline.Hosting;

namespace FinancialPipeline.Stages.Alerts;

/// <summary>
/// What can be learned from a message Pub/Sub forwarded to the dead-letter topic. Parsing is lenient on purpose:
/// every dead letter deserves an alert, even one whose payload is garbage, so nothing here throws on content.
/// </summary>
public sealed record DeadLetter(
    string MessageId,
    string DedupeKey,
    Guid? ExecutionId,
    string? JobName,
    Stage? Stage,
    int? DeliveryCount,
    string? SourceSubscription,
    DateTimeOffset? SourcePublishTime,
    ReadOnlyMemory<byte> Data)
{
    public const string DeliveryCountAttribute = "CloudPubSubDeadLetterSourceDeliveryCount";
    public const string SourceSubscriptionAttribute = "CloudPubSubDeadLetterSourceSubscription";
    public const string SourceProjectAttribute = "CloudPubSubDeadLetterSourceSubscriptionProject";
    public const string SourcePublishTimeAttribute = "CloudPubSubDeadLetterSourceTopicPublishTime";

    /// <summary>Subscription id suffixes of the topology (<c>{prefix}extract</c>…) and the stage each feeds.</summary>
    public static DeadLetter From(PubsubMessageData message, string topicPrefix)
    {
        var attributes = message.Attributes;
        var subscription = ShortSubscriptionId(attributes.GetValueOrDefault(SourceSubscriptionAttribute));
        var body = ReadBody(message.Data);
        var executionId = Uuid(attributes.GetValueOrDefault("execution_id")) ?? body.ExecutionId;
        var jobName = ValidJobNameOrNull(attributes.GetValueOrDefault("job_name")) ?? body.JobName;
        var stage = body.FailedStage ?? new StageTopics(topicPrefix).StageOfSubscription(subscription);
        var deliveryCount = int.TryParse(attributes.GetValueOrDefault(DeliveryCountAttribute), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : (int?)null;
        DateTimeOffset? publishTime = DateTimeOffset.TryParse(
            attributes.GetValueOrDefault(SourcePublishTimeAttribute), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null;
        return new DeadLetter(
            message.MessageId,
            DedupeKeyOf(message, subscription),
            executionId,
            jobName,
            stage,
            deliveryCount,
            subscription,
            publishTime,
            message.Data);
    }

    /// <summary>
    /// A dead letter of a stage the ledger shows FAILED or a zombie: one alert per attempt, so the run's own dead
    /// letter and a duplicate delivery's (another message of the same execution and stage) are one post.
    /// </summary>
    public static string DedupeKeyOf(ExecutionRow row) => $"dead_letter:{row.ExecutionId:D}:{row.Stage}:{row.Attempt}";

    /// <summary>
    /// A dead letter of a stage the ledger shows SUCCESS whose completion event was never published: one alert per
    /// attempt, apart from that attempt's failure alerts (a replay's reset makes the same attempt FAILED).
    /// </summary>
    public static string UnpublishedDedupeKeyOf(ExecutionRow row) => DedupeKeyOf(row) + ":unpublished";

    /// <summary>
    /// The same original message dead-lettered twice (dead-lettering is best effort) gets a new message id each time
    /// but keeps its source subscription, original publish time, data and attributes: hash those. A message published
    /// to the dead-letter topic by hand has no source attributes; its own message id is the key.
    /// </summary>
    public static string DedupeKeyOf(PubsubMessageData message, string? sourceSubscription)
    {
        if (!message.Attributes.TryGetValue(SourcePublishTimeAttribute, out var publishTime))
        {
            return "dead_letter:message:" + message.MessageId;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string s) => hash.AppendData(Encoding.UTF8.GetBytes(s.Length.ToString(CultureInfo.InvariantCulture) + ":" + s));
        Add(sourceSubscription ?? string.Empty);
        Add(publishTime);
        foreach (var (key, value) in message.Attributes.Where(a => !a.Key.StartsWith("CloudPubSubDeadLetter", StringComparison.Ordinal)).OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            Add(key);
            Add(value);
        }

        hash.AppendData(message.Data.Span);
        return "dead_letter:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Real Pub/Sub sends the subscription id; accept a full resource name too.</summary>
    public static string? ShortSubscriptionId(string? value) =>
        string.IsNullOrWhiteSpace(value) ? null : value[(value.LastIndexOf('/') + 1)..];

    private static (Guid? ExecutionId, string? JobName, Stage? FailedStage) ReadBody(ReadOnlyMemory<byte> data)
    {
        try
        {
            using var doc = JsonDocument.Parse(data);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null, null);
            }

            var executionId = Uuid(StringProperty(root, "execution_id"));
            var jobName = ValidJobNameOrNull(StringProperty(root, "job_name"));
            // A completion event names the stage that completed; the dead letter is the trigger of the next one.
            // No stage field: it is a start message, the trigger of bronze.
            Stage? failed = StringProperty(root, "stage") is { } completed
                ? (StageNames.TryParse(completed, out var s) ? Downstream(s) : null)
                : (executionId is null ? null : Core.Contracts.Stage.Bronze);
            return (executionId, jobName, failed);
        }
        catch (JsonException)
        {
            return (null, null, null);
        }
    }

    private static Stage? Downstream(Stage stage) => stage switch
    {
        Core.Contracts.Stage.Bronze => Core.Contracts.Stage.Silver,
        Core.Contracts.Stage.Silver => Core.Contracts.Stage.Gold,
        _ => null,
    };

    private static string? StringProperty(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static Guid? Uuid(string? value) => Guid.TryParseExact(value, "D", out var id) ? id : null;

    private static string? ValidJobNameOrNull(string? value)
    {
        if (value is null)
        {
            return null;
        }

        try
        {
            return StartMessage.ValidJobName(value);
        }
        catch (MessageRejectedException)
        {
            return null;
        }
    }
}
