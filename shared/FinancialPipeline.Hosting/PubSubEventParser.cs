using System.Globalization;
using System.Net.Mime;
using System.Text.Json;
using System.Text.RegularExpressions;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Hosting;

/// <summary>
/// Turns every request shape a Pub/Sub-triggered function receives into the same
/// <c>google.cloud.pubsub.topic.v1.messagePublished</c> CloudEvent: Eventarc's binary mode, structured mode,
/// the raw push body of Pub/Sub (and its emulator, which omits publishTime), and the legacy GCF event.
/// Field variations are tolerated: <c>@type</c>, snake_case duplicates, missing publishTime, orderingKey,
/// deliveryAttempt. Anything else is a <see cref="MessageRejectedException"/> naming the field.
/// </summary>
public static partial class PubSubEventParser
{
    public const string MessagePublishedType = "google.cloud.pubsub.topic.v1.messagePublished";
    public const string UnknownTopicSource = "//pubsub.googleapis.com/projects/unknown-project!/topics/unknown-topic!";

    private static readonly JsonEventFormatter Formatter = new();

    /// <param name="path">Request path; <c>/projects/P/topics/T</c> names the topic of a raw push.</param>
    /// <param name="headers">Request headers (case-insensitive lookup).</param>
    public static (CloudEvent Event, MessagePublishedData Data) Parse(string path, Func<string, string?> headers, string? contentType, ReadOnlyMemory<byte> body)
    {
        if (headers("ce-specversion") is { } specVersion)
        {
            return ParseBinary(specVersion, headers, contentType, body);
        }

        if (contentType is not null && contentType.StartsWith("application/cloudevents+json", StringComparison.OrdinalIgnoreCase))
        {
            return ParseStructured(contentType, body);
        }

        if (contentType is not null && contentType.StartsWith("application/cloudevents-batch+json", StringComparison.OrdinalIgnoreCase))
        {
            throw new MessageRejectedException("content-type", "batched CloudEvents are not supported: Eventarc and Pub/Sub push deliver one event per request");
        }

        using var doc = ParseJson(body, "body");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            // Valid JSON of another shape is as permanent as invalid JSON: rejected, not a 500 retried into the dead letter.
            throw new MessageRejectedException("body", $"must be a JSON object (a Pub/Sub push or a CloudEvent), got {root.ValueKind}");
        }

        if (root.TryGetProperty("specversion", out _))
        {
            return ParseStructured("application/cloudevents+json", body);
        }

        if (root.TryGetProperty("message", out _))
        {
            return FromRawPush(root, path);
        }

        if (root.TryGetProperty("eventType", out _) || root.TryGetProperty("context", out _))
        {
            return FromLegacyEvent(root);
        }

        throw new MessageRejectedException("body", "is neither a CloudEvent nor a Pub/Sub push (no ce-specversion header, specversion or message field)");
    }

    /// <summary>The topic id from a <c>//pubsub.googleapis.com/projects/P/topics/T</c> source, if it is one.</summary>
    public static string? TopicOf(CloudEvent cloudEvent)
    {
        var source = cloudEvent.Source?.ToString() ?? string.Empty;
        if (source == UnknownTopicSource)
        {
            return null;
        }

        var match = TopicSourcePattern().Match(source);
        return match.Success ? match.Groups["topic"].Value : null;
    }

    private static (CloudEvent, MessagePublishedData) ParseBinary(string specVersion, Func<string, string?> headers, string? contentType, ReadOnlyMemory<byte> body)
    {
        var version = CloudEventsSpecVersion.FromVersionId(specVersion)
            ?? throw new MessageRejectedException("ce-specversion", $"unsupported CloudEvents version '{specVersion}'");
        var cloudEvent = new CloudEvent(version);
        foreach (var attribute in version.AllAttributes)
        {
            if (attribute == version.DataContentTypeAttribute || attribute == CloudEventsSpecVersion.SpecVersionAttribute)
            {
                continue;
            }

            if (headers("ce-" + attribute.Name) is { } value)
            {
                SetAttribute(cloudEvent, attribute.Name, value);
            }
        }

        cloudEvent.DataContentType = contentType;
        using var doc = ParseJson(body, "data");
        var data = ReadMessagePublishedData(doc.RootElement, cloudEvent.Id);
        cloudEvent.Data = body.ToArray();
        return (Validate(cloudEvent), data);
    }

    private static (CloudEvent, MessagePublishedData) ParseStructured(string contentType, ReadOnlyMemory<byte> body)
    {
        CloudEvent cloudEvent;
        try
        {
            cloudEvent = Formatter.DecodeStructuredModeMessage(body, new ContentType(contentType.Split(';')[0].Trim()), extensionAttributes: null);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or JsonException or InvalidOperationException)
        {
            throw new MessageRejectedException("cloudevent", $"is not a valid structured CloudEvent ({ex.Message})");
        }

        MessagePublishedData data = cloudEvent.Data switch
        {
            JsonElement element when element.ValueKind == JsonValueKind.Object => ReadMessagePublishedData(element, cloudEvent.Id),
            byte[] bytes => ReadFromBytes(bytes, cloudEvent.Id),
            _ => throw new MessageRejectedException("data", "structured CloudEvent carries no MessagePublishedData object"),
        };
        return (Validate(cloudEvent), data);
    }

    private static MessagePublishedData ReadFromBytes(byte[] bytes, string? fallbackId)
    {
        using var doc = ParseJson(bytes, "data");
        return ReadMessagePublishedData(doc.RootElement, fallbackId);
    }

    private static (CloudEvent, MessagePublishedData) FromRawPush(JsonElement root, string path)
    {
        var data = ReadMessagePublishedData(root, fallbackId: null);
        var topicPath = TopicPathPattern().Match(path);
        var source = topicPath.Success ? $"//pubsub.googleapis.com/{path.TrimStart('/')}" : UnknownTopicSource;
        var cloudEvent = new CloudEvent(CloudEventsSpecVersion.V1_0)
        {
            Id = data.Message.MessageId,
            Type = MessagePublishedType,
            Source = new Uri(source, UriKind.RelativeOrAbsolute),
            Time = data.Message.PublishTime,
            DataContentType = "application/json",
        };
        if (topicPath.Success)
        {
            SetAttribute(cloudEvent, "topic", topicPath.Groups["topic"].Value);
        }

        return (cloudEvent, data);
    }

    private static (CloudEvent, MessagePublishedData) FromLegacyEvent(JsonElement root)
    {
        var context = root.TryGetProperty("context", out var c) && c.ValueKind == JsonValueKind.Object ? c : root;
        var eventType = OptionalString(context, "eventType") ?? OptionalString(root, "eventType");
        if (eventType is not ("google.pubsub.topic.publish" or "providers/cloud.pubsub/eventTypes/topic.publish"))
        {
            throw new MessageRejectedException("eventType", $"'{eventType}' is not a Pub/Sub publish event");
        }

        var resource = context.TryGetProperty("resource", out var r)
            ? (r.ValueKind == JsonValueKind.Object ? OptionalString(r, "name") : PipelineJson.Text(r, "resource"))
            : null;
        var id = OptionalString(context, "eventId") ?? throw new MessageRejectedException("eventId", "is required");
        var time = OptionalString(context, "timestamp");
        if (!root.TryGetProperty("data", out var message) || message.ValueKind != JsonValueKind.Object)
        {
            throw new MessageRejectedException("data", "legacy event carries no message object");
        }

        var publishTime = time is null ? (DateTimeOffset?)null : ParseTime(time, "timestamp");
        var data = new MessagePublishedData(ReadMessage(message, id, publishTime), Subscription: null, DeliveryAttempt: 0);
        var cloudEvent = new CloudEvent(CloudEventsSpecVersion.V1_0)
        {
            Id = id,
            Type = MessagePublishedType,
            Source = new Uri(resource is null ? UnknownTopicSource : $"//pubsub.googleapis.com/{resource}", UriKind.RelativeOrAbsolute),
            Time = publishTime,
            DataContentType = "application/json",
        };
        return (cloudEvent, data);
    }

    private static MessagePublishedData ReadMessagePublishedData(JsonElement root, string? fallbackId)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new MessageRejectedException("data", $"expected a MessagePublishedData object, got {root.ValueKind}");
        }

        if (!root.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
        {
            throw new MessageRejectedException("message", "is required and must be an object");
        }

        var subscription = OptionalString(root, "subscription");
        var attempt = 0;
        if (root.TryGetProperty("deliveryAttempt", out var da) || root.TryGetProperty("delivery_attempt", out da))
        {
            if (da.ValueKind != JsonValueKind.Number || !da.TryGetInt32(out attempt) || attempt < 0)
            {
                throw new MessageRejectedException("deliveryAttempt", "must be a non-negative integer");
            }
        }

        return new MessagePublishedData(ReadMessage(message, fallbackId, publishTime: null), subscription, attempt);
    }

    private static PubsubMessageData ReadMessage(JsonElement message, string? fallbackId, DateTimeOffset? publishTime)
    {
        var id = StringField(message, "messageId", "message_id", "message.messageId") ?? fallbackId
            ?? throw new MessageRejectedException("message.messageId", "is required");
        var time = StringField(message, "publishTime", "publish_time", "message.publishTime");
        if (time is not null)
        {
            publishTime = ParseTime(time, "message.publishTime");
        }

        var data = ReadOnlyMemory<byte>.Empty;
        if (message.TryGetProperty("data", out var d) && d.ValueKind != JsonValueKind.Null)
        {
            if (d.ValueKind != JsonValueKind.String || !d.TryGetBytesFromBase64(out var bytes))
            {
                throw new MessageRejectedException("message.data", "must be base64");
            }

            data = bytes;
        }

        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (message.TryGetProperty("attributes", out var a) && a.ValueKind != JsonValueKind.Null)
        {
            if (a.ValueKind != JsonValueKind.Object)
            {
                throw new MessageRejectedException("message.attributes", "must be an object");
            }

            foreach (var p in a.EnumerateObject())
            {
                attributes[PropertyName(p, "message.attributes")] = p.Value.ValueKind == JsonValueKind.String ? PipelineJson.Text(p.Value, "message.attributes") : p.Value.GetRawText();
            }
        }

        var orderingKey = OptionalString(message, "orderingKey") ?? OptionalString(message, "ordering_key");
        return new PubsubMessageData(data, attributes, id, publishTime, string.IsNullOrEmpty(orderingKey) ? null : orderingKey);
    }

    private static CloudEvent Validate(CloudEvent cloudEvent)
    {
        if (cloudEvent.Type != MessagePublishedType)
        {
            throw new MessageRejectedException("ce-type", $"'{cloudEvent.Type}' is not {MessagePublishedType}");
        }

        if (string.IsNullOrEmpty(cloudEvent.Id) || cloudEvent.Source is null)
        {
            throw new MessageRejectedException(string.IsNullOrEmpty(cloudEvent.Id) ? "ce-id" : "ce-source", "is required");
        }

        // A messagePublished event comes from a topic: Eventarc's source names it; another source is not Pub/Sub's.
        var source = cloudEvent.Source.ToString();
        if (source != UnknownTopicSource && !TopicSourcePattern().IsMatch(source))
        {
            throw new MessageRejectedException("ce-source", $"'{PayloadText.Printable(source, 200, keepLineBreaks: false)}' is not a Pub/Sub topic (//pubsub.googleapis.com/projects/PROJECT/topics/TOPIC)");
        }

        return cloudEvent;
    }

    private static void SetAttribute(CloudEvent cloudEvent, string name, string value)
    {
        try
        {
            cloudEvent.SetAttributeFromString(name, value);
        }
        catch (ArgumentException ex)
        {
            throw new MessageRejectedException("ce-" + name, $"'{value}' is not valid ({ex.Message})");
        }
    }

    private static JsonDocument ParseJson(ReadOnlyMemory<byte> body, string field)
    {
        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException ex)
        {
            throw new MessageRejectedException(field, $"is not valid JSON ({ex.Message})");
        }
    }

    /// <summary>A property's name, read as <see cref="PipelineJson.Text"/> reads a value.</summary>
    private static string PropertyName(JsonProperty property, string field)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException ex)
        {
            throw new MessageRejectedException(field, $"has a name that is not valid UTF-16 text ({ex.Message})");
        }
    }

    private static string? OptionalString(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? PipelineJson.Text(v, name) : null;

    /// <summary>
    /// A string that may be spelled in camelCase or snake_case (both appear in real pushes); absent or null is null,
    /// any other kind is rejected naming <paramref name="field"/> (a number is not "missing").
    /// </summary>
    private static string? StringField(JsonElement obj, string name, string snakeName, string field)
    {
        foreach (var candidate in (ReadOnlySpan<string>)[name, snakeName])
        {
            if (obj.TryGetProperty(candidate, out var v) && v.ValueKind != JsonValueKind.Null)
            {
                return v.ValueKind == JsonValueKind.String ? PipelineJson.Text(v, field) : throw new MessageRejectedException(field, $"must be a string, got {v.ValueKind}");
            }
        }

        return null;
    }

    private static DateTimeOffset ParseTime(string value, string field) =>
        DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : throw new MessageRejectedException(field, $"'{value}' is not an RFC 3339 timestamp");

    [GeneratedRegex("^/?projects/(?<project>[^/]+)/topics/(?<topic>[^/]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex TopicPathPattern();

    [GeneratedRegex("^//pubsub\\.googleapis\\.com/projects/[^/]+/topics/(?<topic>[^/]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex TopicSourcePattern();
}
