using System.Diagnostics;
using System.Text.Json.Nodes;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Alerts;
using FinancialPipeline.Stages.Operations;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// Dead letters and zombie takeovers reach Slack (a local receiver) through the real emulator: once per message,
/// and not lost when the webhook is down.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class AlertTests(StackFixture stack, ITestOutputHelper output)
{
    /// <summary>After the post, how long nothing more may arrive (redeliveries come within ~1 s with the test retry policy).</summary>
    private static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Extract fails on every delivery; after 5 the emulator dead-letters the start message; the Alert function posts
    /// it. Slack is down for the first two posts: Pub/Sub redelivers the dead letter until one post succeeds, and
    /// then nothing is posted again.
    /// </summary>
    [Fact]
    public async Task MessageFailingPastMaxDeliveryAttempts_IsPostedOnce_EvenThroughAWebhookOutage()
    {
        var job = await stack.CreateBrokenJobAsync();
        await using var slack = await SlackReceiver.StartAsync(failFirst: 2);
        await using var pipeline = await StartAsync(slack);
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job, null, null);
        var clock = Stopwatch.StartNew();

        await driver.PublishStartAsync(start);
        var post = (await WaitForPostsAsync(slack, start.ExecutionId.ToString("D"), 1))[0];
        output.WriteLine($"publish → Slack post in {clock.Elapsed.TotalSeconds:F1} s");

        var text = AllText(post);
        Assert.Contains("Dead letter: bronze", text, StringComparison.Ordinal);
        Assert.Contains("*Deliveries*\n5", text, StringComparison.Ordinal);
        Assert.Contains($"*Source subscription*\n{pipeline.Topology.StartTopic.Replace("start", "extract", StringComparison.Ordinal)}", text, StringComparison.Ordinal);
        Assert.Contains("bucket_name='Not A Bucket'", text, StringComparison.Ordinal); // the ledger's error text
        Assert.Contains($"gcloud pubsub topics publish {pipeline.Topology.StartTopic} --project=local-project --message='{start}'", text, StringComparison.Ordinal);
        Assert.Contains($"fp replay --execution-id {start.ExecutionId:D} --stage bronze", text, StringComparison.Ordinal);
        Assert.Equal([500, 500, 200], slack.Requests.Select(r => r.Status));

        var row = Assert.Single(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None));
        Assert.Equal(("dead_letter", "SENT", "slack", 3, "bronze", (string?)null), (row.Kind, row.Status, row.Channel, row.Attempts, row.Stage, row.LastError));
        await AssertNoMorePostsAsync(slack, 1);
        // The dead letter is still held for inspection and replay.
        Assert.Contains(await driver.PullDeadLettersAsync(), m => m.Attributes.GetValueOrDefault("execution_id") == start.ExecutionId.ToString("D"));
    }

    /// <summary>
    /// A Slack outage is the environment's failure, repeated on every redelivery: the Alert host logs one line per failed
    /// post (the webhook's status, the alert and the attempt), no stack trace, never the webhook's secret path.
    /// </summary>
    [Fact]
    public async Task SlackOutage_IsOneLinePerFailedPost_WithTheStatus_NeverAStackTraceOrTheWebhookPath()
    {
        await using var slack = await SlackReceiver.StartAsync(failFirst: 2);
        var logs = new CapturingLoggerProvider();
        await using var pipeline = await stack.StartPipelineAsync(
            (name, services) =>
            {
                if (name == AlertFunction.Name)
                {
                    services.AddLogging(l => l.AddProvider(logs));
                }
            },
            o => o with { SlackWebhookUrl = slack.WebhookUrl, RetryPolicy = StackFixture.DeadLetterRetryPolicy, AllowDeadLetterBeforeTakeover = true });
        var takeover = new TakeoverAlertEvent(Guid.NewGuid(), "financial_extract", Stage.Silver, 2, 90, TimeProvider.System.GetUtcNow());

        await pipeline.PubSub.PublishAsync(pipeline.Topology.AlertsTopic, [new PubsubMessage(takeover.ToUtf8Json(), takeover.Attributes())]);
        await WaitForPostsAsync(slack, takeover.ExecutionId.ToString("D"), 1);

        var loud = logs.Lines.Where(l => l.Level >= LogLevel.Warning).ToList();
        Assert.All(loud, l => output.WriteLine($"{l.Level}: {l.Message}"));
        Assert.Equal(2, loud.Count);
        Assert.All(loud, l =>
        {
            Assert.Equal(LogLevel.Error, l.Level);
            Assert.Null(l.Exception);
            Assert.DoesNotContain('\n', l.Message);
            Assert.DoesNotContain("not-a-real-secret", l.Message, StringComparison.Ordinal);
            Assert.Contains("failed: Slack webhook answered 500 InternalServerError", l.Message, StringComparison.Ordinal);
            Assert.Equal(takeover.ExecutionId.ToString("D"), l.Scope("execution_id"));
        });
        Assert.Contains($"alert zombie_takeover:{takeover.ExecutionId:D}:silver:2 post attempt 1 failed", loud[0].Message, StringComparison.Ordinal);
        Assert.Contains("post attempt 2 failed", loud[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SameMessageDeadLetteredTwice_IsPostedOnce()
    {
        await using var slack = await SlackReceiver.StartAsync();
        await using var pipeline = await StartAsync(slack);
        var start = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        // What Pub/Sub forwards; dead-lettering is best effort, so the same source message can arrive twice (new message ids).
        var message = DeadLetterOf(start, pipeline, "2026-11-23T20:05:00.123Z");

        await pipeline.PubSub.PublishAsync(pipeline.Topology.DeadLetterTopic, [message, message]);
        await WaitForPostsAsync(slack, start.ExecutionId.ToString("D"), 1);

        Assert.Contains("No ledger row", AllText(slack.Delivered[0]), StringComparison.Ordinal);
        await AssertNoMorePostsAsync(slack, 1);
        Assert.Equal(1, Assert.Single(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None)).Attempts);
    }

    [Fact]
    public async Task ADeadLetterOfAStageThatRunsOrSucceeded_IsNotPosted_WhileAFailedOneIs()
    {
        // A duplicate delivery answered 409 while its stage ran gives up after five attempts; the stage does not (the
        // running one's dead letter is answered 409 until the row settles, so it is not posted either).
        await using var slack = await SlackReceiver.StartAsync();
        await using var pipeline = await StartAsync(slack);
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions());
        var running = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        var succeeded = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        var failed = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        foreach (var start in new[] { running, succeeded, failed })
        {
            var lease = await ClaimBronzeAsync(start, TimeProvider.System);
            var now = TimeProvider.System.GetUtcNow();
            if (start == succeeded)
            {
                // As the stage does: commit, publish its completion event, record the publish.
                Assert.True(await ledger.CompleteAsync(lease, new StageSuccess(new TimeWindow(now.AddHours(-2), now), [], 1, new Dictionary<string, long>(), "{}"), CancellationToken.None));
                Assert.True(await ledger.MarkCompletionPublishedAsync(start.ExecutionId, Stage.Bronze, lease.Attempt, CancellationToken.None));
            }
            else if (start == failed)
            {
                Assert.True(await ledger.FailAsync(lease, "provider down", CancellationToken.None));
            }
        }

        var messages = new[] { running, succeeded, failed }.Select(start => DeadLetterOf(start, pipeline, "2026-11-23T20:05:00.123Z")).ToList();
        await pipeline.PubSub.PublishAsync(pipeline.Topology.DeadLetterTopic, messages);

        await WaitForPostsAsync(slack, failed.ExecutionId.ToString("D"), 1);
        await AssertNoMorePostsAsync(slack, 1);
        Assert.Empty(await Alerts().ListByExecutionAsync(running.ExecutionId, CancellationToken.None));
        Assert.Empty(await Alerts().ListByExecutionAsync(succeeded.ExecutionId, CancellationToken.None));
    }

    /// <summary>
    /// A dead letter of a stage the ledger shows RUNNING with a fresh heartbeat is not acknowledged: the run's own
    /// message may be the one that gave up (its failure could not be recorded). It is redelivered until the row settles;
    /// once the stage is FAILED, its own dead letter and a duplicate's are one post.
    /// </summary>
    [Fact]
    public async Task DeadLettersOfARunningStage_WaitForTheRow_ThenTheRunsOwnAndADuplicatesAreOnePost()
    {
        await using var slack = await SlackReceiver.StartAsync();
        var logs = new CapturingLoggerProvider();
        await using var pipeline = await StartAsync(slack, logs);
        var start = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        var lease = await ClaimBronzeAsync(start, TimeProvider.System);

        // The run's own start message and an operator's second publish of it, both given up by Pub/Sub.
        await pipeline.PubSub.PublishAsync(pipeline.Topology.DeadLetterTopic, [DeadLetterOf(start, pipeline, "2026-11-23T20:05:00.123Z"), DeadLetterOf(start, pipeline, "2026-11-23T20:05:07.456Z")]);
        await Eventually.WaitAsync(
            () => Task.FromResult(logs.Lines.Count(l => l.Message.Contains($"dead letter of bronze of execution {start.ExecutionId:D} waits: the ledger shows it RUNNING", StringComparison.Ordinal)) >= 4),
            PipelineDriver.RunTimeout,
            "the dead letters answered 409 and redelivered");
        Assert.Empty(slack.Delivered);
        Assert.Empty(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None));

        Assert.True(await new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions()).FailAsync(lease, "provider down", CancellationToken.None));

        var post = (await WaitForPostsAsync(slack, start.ExecutionId.ToString("D"), 1))[0];
        Assert.Contains("provider down", AllText(post), StringComparison.Ordinal);
        Assert.Contains("*Ledger*\nFAILED, attempt 1", AllText(post), StringComparison.Ordinal);
        await AssertNoMorePostsAsync(slack, 1);
        var row = Assert.Single(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None));
        Assert.Equal(($"dead_letter:{start.ExecutionId:D}:bronze:1", "SENT"), (row.DedupeKey, row.Status));
    }

    /// <summary>A worker that died (or whose failure could not be recorded) leaves its row RUNNING: posted once stale.</summary>
    [Fact]
    public async Task ADeadLetterOfAStageWhoseWorkerIsGone_IsPostedOnceTheHeartbeatIsStale()
    {
        await using var slack = await SlackReceiver.StartAsync();
        await using var pipeline = await StartAsync(slack);
        var start = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        // The test pipeline's rows go stale after 20 s: this one in about 6 s.
        await ClaimBronzeAsync(start, new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddSeconds(-14)));
        var clock = Stopwatch.StartNew();

        await pipeline.PubSub.PublishAsync(pipeline.Topology.DeadLetterTopic, [DeadLetterOf(start, pipeline, "2026-11-23T20:05:00.123Z")]);

        var post = (await WaitForPostsAsync(slack, start.ExecutionId.ToString("D"), 1))[0];
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(3), $"posted after {clock.Elapsed.TotalSeconds:F1} s, while the heartbeat was fresh");
        Assert.Contains("*Ledger*\nRUNNING, attempt 1", AllText(post), StringComparison.Ordinal);
        Assert.Contains("Its worker went silent: the last heartbeat was at ", AllText(post), StringComparison.Ordinal);
        Assert.Contains("nothing will run it again: replay it (below)", AllText(post), StringComparison.Ordinal);
        await AssertNoMorePostsAsync(slack, 1);
    }

    /// <summary>A duplicate that gave up while its stage ran, which then succeeded: acknowledged without a post.</summary>
    [Fact]
    public async Task ADeadLetterOfARunningStageThatThenSucceeds_IsDroppedWithoutAPost()
    {
        await using var slack = await SlackReceiver.StartAsync();
        var logs = new CapturingLoggerProvider();
        await using var pipeline = await StartAsync(slack, logs);
        var start = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        var lease = await ClaimBronzeAsync(start, TimeProvider.System);

        await pipeline.PubSub.PublishAsync(pipeline.Topology.DeadLetterTopic, [DeadLetterOf(start, pipeline, "2026-11-23T20:05:00.123Z")]);
        await Eventually.WaitAsync(() => Task.FromResult(logs.Lines.Any(l => l.Message.Contains("waits: the ledger shows it RUNNING", StringComparison.Ordinal))), PipelineDriver.RunTimeout, "the dead letter answered 409");
        var now = TimeProvider.System.GetUtcNow();
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions());
        Assert.True(await ledger.CompleteAsync(lease, new StageSuccess(new TimeWindow(now.AddHours(-2), now), [], 1, new Dictionary<string, long>(), "{}"), CancellationToken.None));
        Assert.True(await ledger.MarkCompletionPublishedAsync(start.ExecutionId, Stage.Bronze, lease.Attempt, CancellationToken.None)); // its event went out

        await Eventually.WaitAsync(
            () => Task.FromResult(logs.Lines.Any(l => l.Message.StartsWith($"dead letter of bronze of execution {start.ExecutionId:D} not alerted: the ledger shows it SUCCESS", StringComparison.Ordinal))),
            PipelineDriver.RunTimeout,
            "the dead letter dropped once the stage succeeded");
        await AssertNoMorePostsAsync(slack, 0);
        Assert.Empty(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None));
    }

    /// <summary>
    /// A stage that succeeds but can never publish its completion event (here its topic is gone; in GCP, a service
    /// account without roles/pubsub.publisher on it): every delivery of its trigger re-emits and fails, and the
    /// trigger is dead-lettered. That is posted once, naming the problem and the re-emit, although the ledger says
    /// SUCCESS; the next stage never ran.
    /// </summary>
    [Fact]
    public async Task AStageWhoseCompletionCanNeverBePublished_IsPostedOnce_WhenItsTriggerIsDeadLettered()
    {
        var job = await stack.CreateJobAsync();
        await using var slack = await SlackReceiver.StartAsync();
        var logs = new CapturingLoggerProvider();
        await using var pipeline = await StartAsync(slack, logs);
        var driver = new PipelineDriver(stack, pipeline);
        await pipeline.PubSub.DeleteTopicAsync(pipeline.Topology.BronzeCompletedTopic); // publishing bronze's completion now fails with 404
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        var clock = Stopwatch.StartNew();
        var requestedAt = TimeProvider.System.GetUtcNow();

        await driver.PublishStartAsync(start);
        var post = (await WaitForPostsAsync(slack, start.ExecutionId.ToString("D"), 1))[0];
        output.WriteLine($"publish → Slack post in {clock.Elapsed.TotalSeconds:F1} s");

        var text = AllText(post);
        Assert.Contains($"Completion not published: bronze of execution {start.ExecutionId:D} succeeded", text, StringComparison.Ordinal);
        Assert.Contains("*Ledger*\nSUCCESS, attempt 1, completion never published", text, StringComparison.Ordinal);
        Assert.Contains($"its completion event could not be published to {pipeline.Topology.BronzeCompletedTopic}", text, StringComparison.Ordinal);
        Assert.Contains("silver (and gold after it) has not run", text, StringComparison.Ordinal);
        Assert.Contains($"roles/pubsub.publisher on {pipeline.Topology.BronzeCompletedTopic}", text, StringComparison.Ordinal);
        Assert.Contains($"gcloud pubsub topics publish {pipeline.Topology.StartTopic} --project=local-project --message='{start}'", text, StringComparison.Ordinal);
        Assert.Contains($"fp publish --job {job.JobName} --execution-id {start.ExecutionId:D}", text, StringComparison.Ordinal);
        Assert.DoesNotContain("fp replay", text, StringComparison.Ordinal); // a replay would redo the work
        // Waited for the row to settle first: its publish might have been in flight.
        Assert.Contains(logs.Lines, l => l.Message.Contains($"dead letter of bronze of execution {start.ExecutionId:D} waits: the ledger shows it SUCCESS (attempt 1) without its completion event published", StringComparison.Ordinal));

        var bronze = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("SUCCESS", 1, true), (bronze!.Status, bronze.Attempt, bronze.CompletionUnpublished));
        Assert.Null(await driver.Ledger.GetAsync(start.ExecutionId, Stage.Silver, CancellationToken.None));
        var row = Assert.Single(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None));
        Assert.Equal(($"dead_letter:{start.ExecutionId:D}:bronze:1:unpublished", "dead_letter", "SENT", "bronze"), (row.DedupeKey, row.Kind, row.Status, row.Stage));
        await AssertNoMorePostsAsync(slack, 1);
        // fp run / fp backfill stop waiting on it at once, naming the re-emit.
        var rows = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        var reason = await new FinalFailures(new RejectedMessageStore(stack.DataSource), Alerts()).ReasonAsync(start.ExecutionId, rows, requestedAt, CancellationToken.None);
        Assert.Equal($"bronze succeeded but no delivery could publish its completion event, and its trigger was dead-lettered (alerted): the next stage has not run; once publishing works, fp publish --job {job.JobName} --execution-id {start.ExecutionId:D} re-emits it without redoing the work", reason);
    }

    /// <summary>
    /// A dead letter Pub/Sub gave up on before the row's current attempt failed (a duplicate that gave up while that
    /// attempt ran, delivered again while it is retried) is not posted: that attempt's own dead letter is, if it comes.
    /// </summary>
    [Fact]
    public async Task ADeadLetterThatGaveUpBeforeTheAttemptFailed_IsNotPosted_WhileOneAfterIs()
    {
        await using var slack = await SlackReceiver.StartAsync();
        await using var pipeline = await StartAsync(slack);
        var start = new StartMessage(Guid.NewGuid(), "financial_extract", null, null);
        var lease = await ClaimBronzeAsync(start, TimeProvider.System);
        Assert.True(await new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions()).FailAsync(lease, "provider down", CancellationToken.None));
        var failedAt = TimeProvider.System.GetUtcNow();
        using var http = new HttpClient();
        var alert = pipeline.HostAddresses[3];

        using (var early = await http.PostAsync(alert, PushBody(DeadLetterOf(start, pipeline, "2026-11-23T20:05:00.123Z"), failedAt.AddMinutes(-1))))
        {
            Assert.Equal(System.Net.HttpStatusCode.NoContent, early.StatusCode);
        }

        Assert.Empty(slack.Delivered);
        using (var own = await http.PostAsync(alert, PushBody(DeadLetterOf(start, pipeline, "2026-11-23T20:05:07.456Z"), failedAt.AddSeconds(1))))
        {
            Assert.Equal(System.Net.HttpStatusCode.NoContent, own.StatusCode);
        }

        Assert.Single(slack.Delivered);
        Assert.Equal($"dead_letter:{start.ExecutionId:D}:bronze:1", Assert.Single(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None)).DedupeKey);
    }

    [Fact]
    public async Task ZombieTakeover_IsPostedToSlack_AndThePipelineStillFinishes()
    {
        await using var slack = await SlackReceiver.StartAsync();
        await using var pipeline = await StartAsync(slack);
        var driver = new PipelineDriver(stack, pipeline);
        var start = await ZombieBronzeAsync();

        await driver.PublishStartAsync(start);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);
        var post = (await WaitForPostsAsync(slack, start.ExecutionId.ToString("D"), 1))[0];

        Assert.Contains("Zombie takeover: bronze", AllText(post), StringComparison.Ordinal);
        // How long the zombie had been silent (its heartbeat is 10 minutes old), not only the 20 s threshold.
        Assert.Matches("The worker running bronze \\(attempt 1\\) last heartbeated at [0-9: -]+ UTC, 6[0-9][0-9] s before the takeover \\(stale after 20 s\\)", AllText(post));
        var row = Assert.Single(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None));
        Assert.Equal(($"zombie_takeover:{start.ExecutionId:D}:bronze:2", "SENT"), (row.DedupeKey, row.Status));
        await AssertNoMorePostsAsync(slack, 1);
        // Also held on the alerts topic, whatever the Alert function did with it (there to read while it is down).
        var held = Assert.Single(await driver.PullHeldAlertsAsync(), m => m.Attributes.GetValueOrDefault("execution_id") == start.ExecutionId.ToString("D"));
        Assert.Equal((TakeoverAlertEvent.Kind, Stage.Bronze, 2), (held.Attributes[TakeoverAlertEvent.AlertAttribute], TakeoverAlertEvent.Parse(held.Data).Stage, TakeoverAlertEvent.Parse(held.Data).Attempt));
    }

    [Fact]
    public async Task ZombieTakeover_WhoseAlertCannotBePublished_StillFinishesTheStage()
    {
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var start = await ZombieBronzeAsync();
        await pipeline.PubSub.DeleteTopicAsync(pipeline.Topology.AlertsTopic); // publishing the alert now fails with 404

        await driver.PublishStartAsync(start);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);

        var bronze = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("SUCCESS", 2, "takeover"), (bronze!.Status, bronze.Attempt, bronze.ClaimReason));
        Assert.Empty(await Alerts().ListByExecutionAsync(start.ExecutionId, CancellationToken.None));
    }

    private static string AllText(JsonObject payload) => payload.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })
        .Replace("\\n", "\n", StringComparison.Ordinal)
        .Replace("\\\"", "\"", StringComparison.Ordinal);

    private static async Task<IReadOnlyList<JsonObject>> WaitForPostsAsync(SlackReceiver slack, string executionId, int count) =>
        await Eventually.WaitAsync(
            () => Task.FromResult(slack.DeliveredAbout(executionId) is { } posts && posts.Count >= count ? posts : null),
            PipelineDriver.RunTimeout,
            $"{count} Slack post(s) about {executionId}");

    private static async Task AssertNoMorePostsAsync(SlackReceiver slack, int expected)
    {
        await Task.Delay(QuietPeriod);
        Assert.Equal(expected, slack.Delivered.Count);
    }

    /// <summary>A start message of a fresh job whose bronze row is RUNNING with a heartbeat 10 minutes old: a dead worker.</summary>
    private async Task<StartMessage> ZombieBronzeAsync()
    {
        var job = await stack.CreateJobAsync();
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        var longAgo = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(-10));
        await ClaimBronzeAsync(start, longAgo);
        return start;
    }

    private AlertNotificationStore Alerts() => new(stack.DataSource, TimeProvider.System);

    private async Task<Lease> ClaimBronzeAsync(StartMessage start, TimeProvider claimedAt)
    {
        var claim = await new ExecutionLedger(stack.DataSource, claimedAt, new LedgerOptions()).ClaimAsync(new ClaimRequest(start.ExecutionId, Stage.Bronze, start.JobName, null, null, null, null), CancellationToken.None);
        Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
        return claim.Lease!;
    }

    /// <summary><paramref name="start"/> as Pub/Sub forwards it to the dead-letter topic after five deliveries.</summary>
    private static PubsubMessage DeadLetterOf(StartMessage start, LocalPipeline pipeline, string originalPublishTime) =>
        new(start.ToUtf8Json(), new Dictionary<string, string>(start.Attributes())
        {
            [DeadLetter.DeliveryCountAttribute] = "5",
            [DeadLetter.SourceSubscriptionAttribute] = pipeline.Topology.Subscriptions[0].SubscriptionId,
            [DeadLetter.SourceProjectAttribute] = "local-project",
            [DeadLetter.SourcePublishTimeAttribute] = originalPublishTime,
        });

    /// <summary>A push of <paramref name="message"/> as Pub/Sub sends it, with the publish time the emulator leaves out.</summary>
    private static StringContent PushBody(PubsubMessage message, DateTimeOffset publishTime) => new(
        new JsonObject
        {
            ["message"] = new JsonObject
            {
                ["data"] = Convert.ToBase64String(message.Data.Span),
                ["attributes"] = new JsonObject(message.Attributes.Select(a => KeyValuePair.Create(a.Key, (System.Text.Json.Nodes.JsonNode?)a.Value))),
                ["messageId"] = Guid.NewGuid().ToString("N"),
                ["publishTime"] = publishTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            },
            ["subscription"] = "projects/local-project/subscriptions/alert-test",
        }.ToJsonString(),
        System.Text.Encoding.UTF8,
        "application/json");

    /// <summary>The shortest retry policy the emulator honours, so five deliveries take seconds.</summary>
    private Task<LocalPipeline> StartAsync(SlackReceiver slack, CapturingLoggerProvider? alertLogs = null) =>
        stack.StartPipelineAsync(
            (name, services) =>
            {
                if (name == AlertFunction.Name && alertLogs is not null)
                {
                    services.AddLogging(l => l.AddProvider(alertLogs));
                }
            },
            o => o with
            {
                SlackWebhookUrl = slack.WebhookUrl,
                RetryPolicy = StackFixture.DeadLetterRetryPolicy, AllowDeadLetterBeforeTakeover = true,
                FunctionLogLevel = alertLogs is null ? o.FunctionLogLevel : LogLevel.Information,
            });
}
