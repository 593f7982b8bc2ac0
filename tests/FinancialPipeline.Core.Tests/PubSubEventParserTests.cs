using System.Reflection;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Hosting;

namespace FinancialPipeline.Core.Tests;

public sealed class PubSubEventParserTests
{
    private static readonly Guid ExecutionId = Guid.Parse("6f1c2d3e-4b5a-4c6d-8e7f-901234567890");

    public static TheoryData<string, string, string> Variants => new()
    {
        // fixture, request path, how it is sent
        { "binary-body.json", "/", "binary" },
        { "structured.json", "/", "structured" },
        { "structured.json", "/?__GCP_CloudEventsMode=CE_PUBSUB_BINDING", "structured-as-json" },
        { "raw-push.json", "/projects/demo-project/topics/fp-start", "raw" },
        { "emulator-push.json", "/projects/demo-project/topics/fp-start", "raw" },
        { "legacy.json", "/", "raw" },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void EveryPayloadVariant_ParsesToTheSameMessagePublishedEvent(string fixture, string path, string mode)
    {
        var body = Fixture(fixture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var contentType = "application/json";
        if (mode == "binary")
        {
            headers["ce-specversion"] = "1.0";
            headers["ce-type"] = PubSubEventParser.MessagePublishedType;
            headers["ce-source"] = "//pubsub.googleapis.com/projects/demo-project/topics/fp-start";
            headers["ce-id"] = "9876543210";
            headers["ce-time"] = "2026-11-23T20:05:00.123Z";
            contentType = "application/json; charset=utf-8";
        }
        else if (mode == "structured")
        {
            contentType = "application/cloudevents+json; charset=utf-8";
        }

        var (cloudEvent, data) = PubSubEventParser.Parse(path, h => headers.GetValueOrDefault(h), contentType, body);

        Assert.Equal(PubSubEventParser.MessagePublishedType, cloudEvent.Type);
        Assert.Equal("9876543210", cloudEvent.Id);
        Assert.Equal("fp-start", PubSubEventParser.TopicOf(cloudEvent));
        Assert.Equal("9876543210", data.Message.MessageId);
        Assert.Equal("financial_extract", data.Message.Attributes["job_name"]);
        var start = StartMessage.Parse(data.Message.Data);
        Assert.Equal((ExecutionId, "financial_extract"), (start.ExecutionId, start.JobName));
    }

    [Fact]
    public void OptionalFields_AreReadWhenPresent_AndDefaultedWhenMissing()
    {
        var full = PubSubEventParser.Parse("/projects/p/topics/t", _ => null, "application/json", Fixture("raw-push.json")).Data;
        Assert.Equal(2, full.DeliveryAttempt);
        Assert.Equal("job-financial_extract", full.Message.OrderingKey);
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 20, 5, 0, 123, TimeSpan.Zero), full.Message.PublishTime);

        var emulator = PubSubEventParser.Parse("/projects/p/topics/t", _ => null, "application/json", Fixture("emulator-push.json")).Data;
        Assert.Equal(0, emulator.DeliveryAttempt);
        Assert.Null(emulator.Message.OrderingKey);
        Assert.Null(emulator.Message.PublishTime);
    }

    [Fact]
    public void RawPushToAnUnknownPath_GetsTheUnknownTopicSource()
    {
        var (cloudEvent, _) = PubSubEventParser.Parse("/", _ => null, "application/json", Fixture("emulator-push.json"));
        Assert.Equal(PubSubEventParser.UnknownTopicSource, cloudEvent.Source!.ToString());
        Assert.Null(PubSubEventParser.TopicOf(cloudEvent));
    }

    [Theory]
    [InlineData("not json", "body")]
    [InlineData("""{"hello":"world"}""", "body")]
    [InlineData("""{"message":"text","subscription":"s"}""", "message")]
    [InlineData("""{"message":{"data":"%%%","messageId":"1"},"subscription":"s"}""", "message.data")]
    [InlineData("""{"message":{"data":"e30="},"subscription":"s"}""", "message.messageId")]
    [InlineData("""{"message":{"messageId":"1","attributes":[1]},"subscription":"s"}""", "message.attributes")]
    [InlineData("""{"message":{"messageId":"1"},"subscription":"s","deliveryAttempt":"x"}""", "deliveryAttempt")]
    [InlineData("""[{"message":{"data":"e30=","messageId":"1"}}]""", "body")]
    [InlineData("\"text\"", "body")]
    [InlineData("42", "body")]
    [InlineData("null", "body")]
    [InlineData("""{"message":{"data":"e30=","messageId":5},"subscription":"s"}""", "message.messageId")]
    [InlineData("""{"message":{"data":"e30=","message_id":true},"subscription":"s"}""", "message.messageId")]
    [InlineData("""{"message":{"data":"e30=","messageId":"1","publishTime":1700000000},"subscription":"s"}""", "message.publishTime")]
    [InlineData("""{"message":{"data":"e30=","messageId":"1","attributes":{"\udc00":"x"}},"subscription":"s"}""", "message.attributes")]
    [InlineData("""{"message":{"data":"e30=","messageId":"1","attributes":{"k":"\ud800"}},"subscription":"s"}""", "message.attributes")]
    [InlineData("""{"message":{"data":"e30=","messageId":"\ud800"},"subscription":"s"}""", "message.messageId")]
    public void MalformedEnvelopes_AreRejected_NamingTheField(string body, string field)
    {
        var ex = Assert.Throws<MessageRejectedException>(() => PubSubEventParser.Parse("/", _ => null, "application/json", System.Text.Encoding.UTF8.GetBytes(body)));
        Assert.Equal(field, ex.Field);
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("\"text\"")]
    [InlineData("null")]
    public void AStructuredCloudEventThatIsNotAnObject_IsRejected(string body)
    {
        var ex = Assert.Throws<MessageRejectedException>(() => PubSubEventParser.Parse("/", _ => null, "application/cloudevents+json", System.Text.Encoding.UTF8.GetBytes(body)));
        Assert.Equal("cloudevent", ex.Field);
    }

    [Fact]
    public void ABatchOfCloudEvents_IsRejected_NotFailed()
    {
        var body = System.Text.Encoding.UTF8.GetBytes("""[{"specversion":"1.0","id":"1","source":"//x","type":"t"}]""");
        var ex = Assert.Throws<MessageRejectedException>(() => PubSubEventParser.Parse("/", _ => null, "application/cloudevents-batch+json; charset=utf-8", body));
        Assert.Equal("content-type", ex.Field);
    }

    [Fact]
    public void BinaryModeWithAnotherEventType_IsRejected()
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["ce-specversion"] = "1.0",
            ["ce-type"] = "google.cloud.storage.object.v1.finalized",
            ["ce-source"] = "//storage.googleapis.com/projects/_/buckets/b",
            ["ce-id"] = "1",
        };
        var ex = Assert.Throws<MessageRejectedException>(() => PubSubEventParser.Parse("/", h => headers.GetValueOrDefault(h), "application/json", Fixture("binary-body.json")));
        Assert.Equal("ce-type", ex.Field);
    }

    [Theory]
    [InlineData("//storage.googleapis.com/projects/_/buckets/evil")]
    [InlineData("not a uri at all")]
    [InlineData("//pubsub.googleapis.com/projects/demo-project/subscriptions/fp-extract")]
    public void BinaryModeFromASourceThatIsNotATopic_IsRejected_NamingCeSource(string source)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["ce-specversion"] = "1.0",
            ["ce-type"] = PubSubEventParser.MessagePublishedType,
            ["ce-source"] = source,
            ["ce-id"] = "1",
        };
        var ex = Assert.Throws<MessageRejectedException>(() => PubSubEventParser.Parse("/", h => headers.GetValueOrDefault(h), "application/json", Fixture("binary-body.json")));
        Assert.Equal("ce-source", ex.Field);
        Assert.Contains("is not a Pub/Sub topic", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AStagesTriggerIsItsOwnTopic_AnotherPipelineTopicIsWrong_AndAForeignOneIsNotJudged()
    {
        var topics = new FinancialPipeline.PubSub.StageTopics("fp-");

        Assert.Null(topics.WrongTrigger(Stage.Bronze, "fp-start"));
        Assert.Null(topics.WrongTrigger(Stage.Silver, "fp-bronze-completed"));
        Assert.Null(topics.WrongTrigger(Stage.Gold, "fp-silver-completed"));
        Assert.Null(topics.WrongTrigger(Stage.Bronze, null));
        Assert.Null(topics.WrongTrigger(Stage.Bronze, "someone-elses-topic"));
        Assert.Equal(
            "the message was published to fp-bronze-completed, but bronze runs on messages of fp-start: a subscription or a replay is wired to the wrong topic",
            topics.WrongTrigger(Stage.Bronze, "fp-bronze-completed"));
        Assert.NotNull(topics.WrongTrigger(Stage.Silver, "fp-start"));
        Assert.NotNull(topics.WrongTrigger(Stage.Gold, "fp-dead-letter"));
    }

    private static byte[] Fixture(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"FinancialPipeline.Core.Tests.Fixtures.{name}")
            ?? throw new InvalidOperationException($"fixture {name} missing");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
