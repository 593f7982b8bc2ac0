using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Hosting;
using FinancialPipeline.Stages.Alerts;
using FinancialPipeline.PubSub;
using Microsoft.Extensions.Configuration;

namespace FinancialPipeline.Core.Tests;

public sealed class AlertMessageTests
{
    private const string Prefix = "fp-";
    private static readonly Guid ExecutionId = Guid.Parse("6f1c2d3e-4b5a-4c6d-8e7f-901234567890");
    private static readonly StageTopics Topics = new(Prefix);

    [Fact]
    public void DeadLetteredStartMessage_IsBronze_WithDeliveryCountAndSource()
    {
        var start = new StartMessage(ExecutionId, "financial_extract", null, null);
        var deadLetter = DeadLetter.From(DeadLettered(start.ToUtf8Json(), start.Attributes(), "fp-extract"), Prefix);

        Assert.Equal((ExecutionId, "financial_extract", Stage.Bronze, 5, "fp-extract"), (deadLetter.ExecutionId!.Value, deadLetter.JobName, deadLetter.Stage!.Value, deadLetter.DeliveryCount!.Value, deadLetter.SourceSubscription));
    }

    [Theory]
    [InlineData("bronze", Stage.Silver)]
    [InlineData("silver", Stage.Gold)]
    public void DeadLetteredCompletionEvent_IsTheTriggerOfTheNextStage(string completedStage, Stage failedStage)
    {
        var data = Encoding.UTF8.GetBytes($$"""{"execution_id":"{{ExecutionId}}","job_name":"financial_extract","stage":"{{completedStage}}"}""");
        var deadLetter = DeadLetter.From(DeadLettered(data, new Dictionary<string, string>(), "eventarc-europe-west1-trigger-sub-123"), Prefix);

        Assert.Equal(failedStage, deadLetter.Stage);
    }

    [Fact]
    public void GarbagePayload_StillMakesAnAlert_WithTheStageFromTheSourceSubscription()
    {
        var deadLetter = DeadLetter.From(DeadLettered("not json \u0001"u8.ToArray(), new Dictionary<string, string>(), "projects/p/subscriptions/fp-transform"), Prefix);
        var alert = AlertComposer.ForDeadLetter(deadLetter, null, Topics, "demo-project");

        Assert.Equal(("fp-transform", Stage.Silver, (Guid?)null), (deadLetter.SourceSubscription, deadLetter.Stage!.Value, deadLetter.ExecutionId));
        Assert.Contains("names no execution", alert.Detail, StringComparison.Ordinal);
        Assert.EndsWith("payload: not json \\u0001", alert.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(alert.ReplayCommands, c => c.StartsWith("fp ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("projects/p/subscriptions/eventarc-us-central1-fp-extract-trigger-sub-417", Stage.Bronze)]
    [InlineData("eventarc-europe-west1-fp-transform-trigger-sub-9", Stage.Silver)]
    [InlineData("eventarc-asia-northeast1-fp-aggregate-trigger-sub-1234567", Stage.Gold)]
    public void GarbagePayload_FromTheSubscriptionEventarcCreatedForATrigger_KeepsItsStage(string source, Stage stage)
    {
        // In the cloud the source subscription is Eventarc's, not the topology's: the stage is read from its trigger.
        var deadLetter = DeadLetter.From(DeadLettered("not json"u8.ToArray(), new Dictionary<string, string>(), source), Prefix);

        Assert.Equal(stage, deadLetter.Stage);
    }

    [Theory]
    [InlineData("eventarc-fp-extract-trigger-sub-417")] // no region
    [InlineData("eventarc-us-central1-fp-extract-trigger-sub-")] // no number
    [InlineData("eventarc-us-central1-fp-extract-trigger-sub-41x")]
    [InlineData("eventarc-us-central1-xfp-extract-trigger-sub-417")] // another deployment's prefix
    [InlineData("eventarc-us-central1-fp-extract-sub-417")] // not our trigger's name
    [InlineData("gcf-us-central1-fp-extract-trigger-sub-417")]
    [InlineData("fp-extract-trigger")]
    public void SubscriptionsThatAreNotAStagesTrigger_NameNoStage(string subscription)
    {
        Assert.Null(Topics.StageOfSubscription(subscription));
    }

    [Fact]
    public void DedupeKey_IsTheSameWhenTheSameMessageIsDeadLetteredTwice_AndDiffersForAReplay()
    {
        var start = new StartMessage(ExecutionId, "financial_extract", null, null);
        var first = DeadLettered(start.ToUtf8Json(), start.Attributes(), "fp-extract", messageId: "101");
        var again = DeadLettered(start.ToUtf8Json(), start.Attributes(), "fp-extract", messageId: "202", deliveryCount: "6");
        var replayed = DeadLettered(start.ToUtf8Json(), start.Attributes(), "fp-extract", messageId: "303", publishTime: "2026-11-23T21:00:00.000Z");
        var handPublished = new PubsubMessageData(start.ToUtf8Json(), start.Attributes(), "404", null, null);

        Assert.Equal(DeadLetter.From(first, Prefix).DedupeKey, DeadLetter.From(again, Prefix).DedupeKey);
        Assert.NotEqual(DeadLetter.From(first, Prefix).DedupeKey, DeadLetter.From(replayed, Prefix).DedupeKey);
        Assert.Equal("dead_letter:message:404", DeadLetter.From(handPublished, Prefix).DedupeKey);
        Assert.True(DeadLetter.From(first, Prefix).DedupeKey.Length <= 300);
    }

    [Fact]
    public void DeadLetterAlert_CarriesExecutionStageDeliveriesErrorAndReplayCommands()
    {
        var start = new StartMessage(ExecutionId, "financial_extract", null, new TimeWindow(new DateTimeOffset(2026, 11, 20, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 21, 0, 0, 0, TimeSpan.Zero)));
        var deadLetter = DeadLetter.From(DeadLettered(start.ToUtf8Json(), start.Attributes(), "fp-extract"), Prefix);
        var row = LedgerRow("FAILED", 5, "JobConfigException: bucket_name 'Bad<Bucket>' is not a valid bucket name");

        var alert = AlertComposer.ForDeadLetter(deadLetter, row, Topics, "demo-project");

        Assert.Equal(AlertMessage.DeadLetterKind, alert.Kind);
        Assert.Contains(ExecutionId.ToString("D"), alert.Title, StringComparison.Ordinal);
        Assert.Contains("bronze", alert.Title, StringComparison.Ordinal);
        Assert.Contains("5 deliveries", alert.Title, StringComparison.Ordinal);
        Assert.Equal(row.Error, alert.Detail);
        Assert.Equal(
            $"gcloud pubsub topics publish fp-start --project=demo-project --message='{start}' --attribute=execution_id={ExecutionId:D},job_name=financial_extract",
            alert.ReplayCommands[0]);
        Assert.Equal($"fp replay --execution-id {ExecutionId:D} --stage bronze", alert.ReplayCommands[1]);
        foreach (var expected in new[] { ExecutionId.ToString("D"), "bronze", "Deliveries: 5", "fp-extract", "FAILED, attempt 5", "First published: 2026-11-23T20:05", "not a valid bucket name", "replay: gcloud pubsub topics publish fp-start" })
        {
            Assert.Contains(expected, alert.Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void SilverDeadLetter_ReplaysTheCompletionEventToBronzeCompleted()
    {
        var data = Encoding.UTF8.GetBytes($$"""{"execution_id":"{{ExecutionId}}","job_name":"financial_extract","stage":"bronze","outputs":["file:///tmp/x.parquet"]}""");
        var alert = AlertComposer.ForDeadLetter(DeadLetter.From(DeadLettered(data, new Dictionary<string, string>(), "fp-transform"), Prefix), null, Topics, "demo-project");

        Assert.StartsWith("gcloud pubsub topics publish fp-bronze-completed --project=demo-project --message='{", alert.ReplayCommands[0], StringComparison.Ordinal);
        Assert.Contains("No ledger row", alert.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void UnpublishedGoldCompletion_NamesTheTopicAndTheCauses_AndReemitsWithoutAReplay()
    {
        var data = Encoding.UTF8.GetBytes($$"""{"execution_id":"{{ExecutionId}}","job_name":"financial_extract","stage":"silver"}""");
        var deadLetter = DeadLetter.From(DeadLettered(data, new Dictionary<string, string>(), "fp-aggregate"), Prefix);
        var row = LedgerRow("SUCCESS", 2, null) with { Stage = "gold", CompletionPublishedAt = null };

        var alert = AlertComposer.ForUnpublishedCompletion(deadLetter with { DedupeKey = DeadLetter.UnpublishedDedupeKeyOf(row) }, row, Topics, "demo-project");

        Assert.Equal(($"dead_letter:{ExecutionId:D}:gold:2:unpublished", AlertMessage.DeadLetterKind, Stage.Gold), (alert.DedupeKey, alert.Kind, alert.Stage!.Value));
        Assert.Equal($"Completion not published: gold of execution {ExecutionId:D} succeeded, its event never went out", alert.Title);
        Assert.Contains(new KeyValuePair<string, string>("Completion topic", "fp-gold-completed"), alert.Fields);
        Assert.Contains("nothing subscribed to it has been told that gold finished", alert.Detail, StringComparison.Ordinal);
        Assert.Contains("lacks roles/pubsub.publisher on fp-gold-completed, or the topic does not exist", alert.Detail, StringComparison.Ordinal);
        Assert.StartsWith("gcloud pubsub topics publish fp-silver-completed --project=demo-project --message='{", alert.ReplayCommands[0], StringComparison.Ordinal);
        Assert.Equal($"fp publish --job financial_extract --execution-id {ExecutionId:D}", alert.ReplayCommands[1]);
        Assert.Equal(2, alert.ReplayCommands.Count);
    }

    [Fact]
    public void TooLongMessage_IsReplayedThroughAStartMessageWithTheSameExecutionId()
    {
        var outputs = string.Join(',', Enumerable.Range(0, 100).Select(i => $"\"gs://silver/financial_quotes/date=2026-11-{i % 28 + 1:00}/part-{i:00000}.parquet\""));
        var data = Encoding.UTF8.GetBytes($$"""{"execution_id":"{{ExecutionId}}","job_name":"financial_extract","stage":"silver","outputs":[{{outputs}}]}""");
        var alert = AlertComposer.ForDeadLetter(DeadLetter.From(DeadLettered(data, new Dictionary<string, string>(), "fp-aggregate"), Prefix), null, Topics, "demo-project");

        Assert.Equal(
            $$"""gcloud pubsub topics publish fp-start --project=demo-project --message='{"execution_id":"{{ExecutionId:D}}","job_name":"financial_extract"}' --attribute=execution_id={{ExecutionId:D}},job_name=financial_extract""",
            alert.ReplayCommands[0]);
        Assert.Equal($"fp replay --execution-id {ExecutionId:D} --stage gold", alert.ReplayCommands[1]);
    }

    [Fact]
    public void ShellQuote_SurvivesASingleQuoteInTheMessage()
    {
        var message = """{"execution_id":"x","job_name":"it's; rm -rf / $(boom) `x`"}""";
        var psi = new ProcessStartInfo("/bin/sh", ["-c", "printf %s " + AlertComposer.ShellQuote(message)]) { RedirectStandardOutput = true };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();

        Assert.Equal(message, output);
    }

    [Fact]
    public void AnUnparseableDeadLetter_PublishedStraightToTheTopic_IsTitledForWhatItIs_NotAsUnknownOfUnknown()
    {
        // What `gcloud pubsub topics publish fp-dead-letter --message=garbage` delivers: no Pub/Sub dead-letter attributes.
        var deadLetter = DeadLetter.From(new PubsubMessageData("garbage dead letter"u8.ToArray(), new Dictionary<string, string>(), "9", null, null), Prefix);

        var alert = AlertComposer.ForDeadLetter(deadLetter, null, Topics, "demo-project");

        Assert.Equal("Dead letter: a message naming no execution and stage the pipeline knows (no delivery count: not dead-lettered by Pub/Sub, published to the topic directly?)", alert.Title);
        Assert.DoesNotContain("unknown of execution unknown", alert.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void SlackPayload_HasFallbackTextAndBlocks_EscapedAndWithinSlackLimits()
    {
        var deadLetter = DeadLetter.From(DeadLettered(new StartMessage(ExecutionId, "financial_extract", null, null).ToUtf8Json(), new Dictionary<string, string>(), "fp-extract"), Prefix);
        var alert = AlertComposer.ForDeadLetter(deadLetter, LedgerRow("FAILED", 5, "x < y && z > w ``` " + new string('e', 5000)), Topics, "demo-project");

        var payload = alert.ToSlackPayload();
        var blocks = payload["blocks"]!.AsArray();

        Assert.Contains(ExecutionId.ToString("D"), payload["text"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("header", blocks[0]!["type"]!.GetValue<string>());
        Assert.Equal(7, blocks[1]!["fields"]!.AsArray().Count);
        var error = blocks[2]!["text"]!["text"]!.GetValue<string>();
        Assert.StartsWith("```x &lt; y &amp;&amp; z &gt; w ''' ", error, StringComparison.Ordinal);
        var replay = blocks[3]!["text"]!["text"]!.GetValue<string>();
        Assert.Contains("fp replay --execution-id", replay, StringComparison.Ordinal);
        // Each command its own code block on its own line: "``````" between two of them is no block boundary in
        // Slack's mrkdwn, and the two commands ran together as one line of backticks and text.
        Assert.DoesNotContain("``````", replay, StringComparison.Ordinal);
        Assert.EndsWith("```\n```fp replay --execution-id " + ExecutionId.ToString("D") + " --stage bronze```", replay, StringComparison.Ordinal);
        Assert.All(blocks.Select(b => b!["text"]?["text"]?.GetValue<string>()).OfType<string>(), t => Assert.True(t.Length <= 3000));
    }

    [Fact]
    public void TakeoverEvent_RoundTrips_AndBecomesOneAlertPerAttempt()
    {
        var takeover = new TakeoverAlertEvent(ExecutionId, "financial_extract", Stage.Silver, 3, 90, new DateTimeOffset(2026, 11, 23, 21, 0, 0, TimeSpan.Zero));
        var parsed = TakeoverAlertEvent.Parse(takeover.ToUtf8Json());
        var alert = AlertComposer.ForTakeover(parsed);

        Assert.Equal(takeover, parsed);
        Assert.Equal("zombie_takeover", takeover.Attributes()["fp_alert"]);
        Assert.Equal($"zombie_takeover:{ExecutionId:D}:silver:3", alert.DedupeKey);
        Assert.Contains("Zombie takeover: silver", alert.Title, StringComparison.Ordinal);
        Assert.Contains("90 s", alert.Detail, StringComparison.Ordinal);
        Assert.Empty(alert.ReplayCommands);
    }

    [Fact]
    public void TakeoverAlert_SaysHowLongTheWorkerWasSilent_NotJustTheThreshold()
    {
        var detected = new DateTimeOffset(2026, 11, 23, 21, 0, 0, TimeSpan.Zero);
        var takeover = new TakeoverAlertEvent(ExecutionId, "financial_extract", Stage.Silver, 2, 30, detected, detected.AddMinutes(-40));
        var parsed = TakeoverAlertEvent.Parse(takeover.ToUtf8Json());
        var alert = AlertComposer.ForTakeover(parsed);

        Assert.Equal(takeover, parsed);
        Assert.StartsWith(
            "The worker running silver (attempt 1) last heartbeated at 2026-11-23 20:20:00 UTC, 2400 s before the takeover (stale after 30 s): it crashed, was OOM-killed or hung. Attempt 2 took the row over",
            alert.Detail,
            StringComparison.Ordinal);
        Assert.Contains(alert.Fields, f => f.Key == "Last heartbeat" && f.Value == "2026-11-23T20:20:00Z");
        Assert.DoesNotContain("more than 30 s", alert.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"kind":"zombie_takeover","execution_id":"nope","job_name":"j","stage":"silver","attempt":2,"stale_after_seconds":90,"detected_at":"2026-11-23T21:00:00Z"}""", "execution_id")]
    [InlineData("""{"kind":"zombie_takeover","execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","stage":"platinum","attempt":2,"stale_after_seconds":90,"detected_at":"2026-11-23T21:00:00Z"}""", "stage")]
    [InlineData("""{"kind":"zombie_takeover","execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","stage":"silver","attempt":0,"stale_after_seconds":90,"detected_at":"2026-11-23T21:00:00Z"}""", "attempt")]
    [InlineData("""{"kind":"other","execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890"}""", "kind")]
    public void MalformedTakeoverEvent_IsRejectedNamingTheField(string json, string field)
    {
        var ex = Assert.Throws<MessageRejectedException>(() => TakeoverAlertEvent.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(field, ex.Field);
    }

    [Theory]
    [InlineData("not a url", "absolute URL")]
    [InlineData("http://hooks.slack.example/services/T000/B000/SECRETSECRET", "https")]
    public void WebhookUrl_IsValidated_WithoutEchoingTheSecret(string value, string expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [AlertSettings.WebhookVariable] = value }).Build();

        var ex = Assert.Throws<InvalidOperationException>(() => AlertSettings.FromConfiguration(config));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", ex.Message, StringComparison.Ordinal);
        Assert.Contains(AlertSettings.WebhookVariable, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoWebhook_MeansAlertsAreLogged_AndLoopbackHttpIsAllowedForLocalReceivers()
    {
        Assert.Null(AlertSettings.FromConfiguration(new ConfigurationBuilder().Build()).SlackWebhookUrl);
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [AlertSettings.WebhookVariable] = "http://127.0.0.1:9/hook" }).Build();
        Assert.Equal(new Uri("http://127.0.0.1:9/hook"), AlertSettings.FromConfiguration(config).SlackWebhookUrl);
    }

    private static PubsubMessageData DeadLettered(byte[] data, IReadOnlyDictionary<string, string> attributes, string subscription, string messageId = "77", string deliveryCount = "5", string publishTime = "2026-11-23T20:05:00.123Z")
    {
        var all = new Dictionary<string, string>(attributes)
        {
            [DeadLetter.DeliveryCountAttribute] = deliveryCount,
            [DeadLetter.SourceSubscriptionAttribute] = subscription,
            [DeadLetter.SourceProjectAttribute] = "demo-project",
            [DeadLetter.SourcePublishTimeAttribute] = publishTime,
        };
        return new PubsubMessageData(data, all, messageId, null, null);
    }

    private static ExecutionRow LedgerRow(string status, int attempt, string? error)
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 10, 0, TimeSpan.Zero);
        return new ExecutionRow(1, ExecutionId, "bronze", "financial_extract", status, attempt, "retry", now, null, null, null, null, error, null, now, now, null, now, status == "SUCCESS" ? now : null, now);
    }
}
