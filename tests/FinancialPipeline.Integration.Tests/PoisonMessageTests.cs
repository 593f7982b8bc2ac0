using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Runner;
using Microsoft.Extensions.Logging.Abstractions;

namespace FinancialPipeline.Integration.Tests;

[Collection(nameof(StackFixture))]
public sealed class PoisonMessageTests(StackFixture stack)
{
    [Fact]
    public async Task PoisonMessages_AreAcknowledged_RecordedWithTheirReason_AndNeverDeadLettered()
    {
        var inactive = await stack.CreateJobAsync(active: false);
        // The shortest retry policy the emulator honours: a message it counted as not acknowledged comes back within a
        // second, and reaches the dead-letter topic after five deliveries in a few seconds, well inside the wait below.
        await using var pipeline = await stack.StartPipelineAsync(options: o => o with { RetryPolicy = StackFixture.DeadLetterRetryPolicy, AllowDeadLetterBeforeTakeover = true });
        var driver = new PipelineDriver(stack, pipeline);
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        var id = Guid.NewGuid().ToString("D");
        var cases = new (string Body, string Field)[]
        {
            ("this is not json", "data"),
            ("""{"job_name":"financial_extract"}""", "execution_id"),
            ("""{"execution_id":"not-a-uuid","job_name":"financial_extract"}""", "execution_id"),
            ($$"""{"execution_id":"{{id}}","job_name":"no_such_job"}""", "job_name"),
            ($$"""{"execution_id":"{{Guid.NewGuid()}}","job_name":"{{inactive.JobName}}"}""", "job_name"),
            ("""[1, 2, 3]""", "data"),
            ("""{"execution_id":123,"job_name":true}""", "execution_id"),
            ($$$"""{"execution_id":"{{{Guid.NewGuid()}}}","job_name":"financial_extract","window":{"start":"2026-11-21T00:00:00Z","end":"2026-11-20T00:00:00Z"}}""", "window"),
        };
        var published = new Dictionary<string, string>();
        foreach (var (body, field) in cases)
        {
            published[await driver.PublishRawAsync(Encoding.UTF8.GetBytes(body))] = field;
        }

        // Attributes and no data (what a gcloud publish with --attribute and no --message sends).
        var attributesOnly = await driver.PublishRawAsync([], new Dictionary<string, string> { ["job_name"] = "financial_extract" });
        published[attributesOnly] = "data";
        // The execution id parses, the job name does not: the rejection is recorded under that execution.
        var malformedJobOf = Guid.NewGuid().ToString("D");
        published[await driver.PublishRawAsync(Encoding.UTF8.GetBytes($$"""{"execution_id":"{{malformedJobOf}}","job_name":"Financial Extract"}"""))] = "job_name";
        // An attribute disagreeing with the body: filed under the body's execution id, the one the message would have run.
        var attributeMismatchOf = Guid.NewGuid().ToString("D");
        published[await driver.PublishRawAsync(
            Encoding.UTF8.GetBytes($$"""{"execution_id":"{{attributeMismatchOf}}","job_name":"financial_extract"}"""),
            new Dictionary<string, string> { ["execution_id"] = Guid.NewGuid().ToString("D") })] = "attributes.execution_id";
        // A property given twice is ambiguous, not resolved by the last one.
        var doubledJobOf = Guid.NewGuid().ToString("D");
        published[await driver.PublishRawAsync(Encoding.UTF8.GetBytes($$"""{"execution_id":"{{doubledJobOf}}","job_name":"financial_extract","job_name":"{{inactive.JobName}}"}"""))] = "job_name";

        var store = new RejectedMessageStore(stack.DataSource);
        async Task<List<RejectedMessageStore.Row>> RecordedAsync() =>
            (await store.ListByFunctionAsync("extract", since, CancellationToken.None)).Where(r => r.MessageId is not null && published.ContainsKey(r.MessageId)).ToList();
        await Eventually.WaitAsync(
            async () => (await RecordedAsync()).Select(r => r.MessageId).Distinct().Count() == published.Count,
            PipelineDriver.RunTimeout,
            "every poison message recorded");

        // The answer must be one the emulator counts as an ack, as Pub/Sub does: a redelivery would record the message
        // again and, after five, dead-letter it (the emulator took 202 as a nack while Pub/Sub accepts it).
        await Task.Delay(TimeSpan.FromSeconds(8));
        var rows = await RecordedAsync();

        foreach (var row in rows)
        {
            Assert.Equal(published[row.MessageId!], row.Field);
            Assert.False(string.IsNullOrWhiteSpace(row.Reason));
        }

        // Published without attributes: the execution id recorded is the one the function parsed from the body.
        Assert.Equal(id, Assert.Single(rows, r => r.Reason.Contains("unknown job", StringComparison.Ordinal)).ExecutionId);
        Assert.Contains(rows, r => r.Reason.Contains("inactive", StringComparison.Ordinal));
        Assert.StartsWith("is empty: the message has no data", Assert.Single(rows, r => r.MessageId == attributesOnly).Reason, StringComparison.Ordinal);
        Assert.Equal(malformedJobOf, Assert.Single(rows, r => r.Reason.Contains("'Financial Extract' must match", StringComparison.Ordinal)).ExecutionId);
        Assert.Equal(attributeMismatchOf, Assert.Single(rows, r => r.Field == "attributes.execution_id").ExecutionId);
        var doubled = Assert.Single(rows, r => r.Reason.Contains("twice", StringComparison.Ordinal));
        Assert.Equal((doubledJobOf, "is given twice in the same object; which value was meant is ambiguous"), (doubled.ExecutionId, doubled.Reason));
        var report = await FpProcess.RunAsync(stack.OperatorVariables(pipeline), "runs", "--execution-id", malformedJobOf);
        Assert.Equal(0, report.ExitCode);
        Assert.Contains("job_name: 'Financial Extract' must match", report.Stdout, StringComparison.Ordinal);
        // Acknowledged, so never redelivered: one record per message, nothing in the dead-letter topic, no ledger row.
        Assert.Equal(published.Count, rows.Count);
        Assert.Empty(await driver.PullDeadLettersAsync());
        Assert.Null(await driver.Ledger.GetAsync(Guid.Parse(id), Stage.Bronze, CancellationToken.None));
    }

    [Fact]
    public async Task MalformedPushBodies_PostedToAHost_AreAnswered2xx_AndRecordedWithTheirPayload()
    {
        // What no Pub/Sub push or Eventarc delivery looks like, but anything may POST: valid JSON of the wrong shape
        // used to fail with 500, which Pub/Sub would have retried into the dead-letter topic.
        await using var pipeline = await stack.StartPipelineAsync();
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        var marker = Guid.NewGuid().ToString("N");
        var cases = new (string Body, string ContentType, string Field)[]
        {
            ($$"""["{{marker}}"]""", "application/json", "body"),
            ($$"""{"{{marker}}":1}""", "application/json", "body"),
            ($$"""[{"specversion":"1.0","id":"{{marker}}","source":"//x","type":"t"}]""", "application/cloudevents-batch+json", "content-type"),
            ($$"""{"message":{"data":"e30=","messageId":7},"subscription":"{{marker}}"}""", "application/json", "message.messageId"),
        };
        using var http = new HttpClient();
        foreach (var (body, contentType, _) in cases)
        {
            using var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
            using var response = await http.PostAsync(pipeline.HostAddresses[0], content);
            Assert.True(response.IsSuccessStatusCode, $"{body}: answered {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        var rows = (await new RejectedMessageStore(stack.DataSource).ListByFunctionAsync("extract", since, CancellationToken.None))
            .Where(r => Encoding.UTF8.GetString(r.Payload).Contains(marker, StringComparison.Ordinal))
            .ToList();
        Assert.Equal(cases.Select(c => (c.Body, c.Field)), rows.Select(r => (Encoding.UTF8.GetString(r.Payload), r.Field)));
    }

    [Fact]
    public async Task PoisonCarryingCharactersPostgreSqlRefuses_OrAnOverlongMessageId_IsStillRecordedAndAcknowledged()
    {
        // PostgreSQL's text refuses NUL and jsonb \u0000, message_id is varchar(256), System.Text.Json will not read an
        // escaped unpaired surrogate as a string: each once answered 500, looping the message into the dead-letter topic.
        await using var pipeline = await stack.StartPipelineAsync();
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        var marker = Guid.NewGuid().ToString("N");
        var longId = marker + new string('9', 300);
        var cases = new (string MessageId, string Data, string Attributes)[]
        {
            (marker + "-nul", """{"execution_id":"a\u0000b","job_name":"financial_extract"}""", """{"k":"v\u0000"}"""),
            (marker + "-surrogate", """{"execution_id":"\ud800","job_name":"financial_extract"}""", """{"\udc00":"\ud800x"}"""),
            (longId, "not json", "{}"),
        };
        using var http = new HttpClient();
        var topic = new Uri(pipeline.HostAddresses[0], $"projects/{pipeline.Topology.ProjectId}/topics/{pipeline.Topology.StartTopic}");
        foreach (var (messageId, data, attributes) in cases)
        {
            var push = $$"""{"message":{"data":"{{Convert.ToBase64String(Encoding.UTF8.GetBytes(data))}}","messageId":"{{messageId}}","attributes":{{attributes}}},"subscription":"projects/p/subscriptions/s"}""";
            using var response = await http.PostAsync(topic, new StringContent(push, Encoding.UTF8, "application/json"));
            Assert.True(response.IsSuccessStatusCode, $"{messageId}: answered {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        var rows = (await new RejectedMessageStore(stack.DataSource).ListByFunctionAsync("extract", since, CancellationToken.None))
            .Where(r => r.MessageId?.StartsWith(marker, StringComparison.Ordinal) == true || Encoding.UTF8.GetString(r.Payload).Contains(marker, StringComparison.Ordinal))
            .ToList();
        Assert.Equal(3, rows.Count);
        var nul = Assert.Single(rows, r => r.MessageId == marker + "-nul");
        Assert.Equal("execution_id", nul.Field);
        Assert.Contains("a\\u0000b", nul.Reason, StringComparison.Ordinal);
        Assert.Contains("v\\\\u0000", nul.AttributesJson, StringComparison.Ordinal);
        // Rejected while reading the envelope, before its message id: recorded with the whole request body.
        Assert.Equal("message.attributes", Assert.Single(rows, r => r.MessageId is null).Field);
        Assert.Equal(longId[..RejectedMessageStore.MaxMessageIdChars], Assert.Single(rows, r => r.Field == "data").MessageId);
    }

    [Fact]
    public async Task AStartMessage_NamingAnExecutionOfAnotherJob_IsRejected_NeitherRunAsThatJobNorReemitted()
    {
        // What gcloud lets an operator publish and fp publish refuses: the execution id of another job's execution.
        // A FAILED row would be claimed and run with this message's job under that execution; a SUCCESS row would
        // re-emit the other job's events. Either way the message can never do what it says: a rejection.
        var owner = await stack.CreateJobAsync();
        var other = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync(options: o => o with { RetryPolicy = StackFixture.DeadLetterRetryPolicy, AllowDeadLetterBeforeTakeover = true });
        var driver = new PipelineDriver(stack, pipeline);
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        var failed = Guid.NewGuid();
        var succeeded = Guid.NewGuid();
        var claimFailed = await driver.Ledger.ClaimAsync(new ClaimRequest(failed, Stage.Bronze, owner.JobName, null, null, null, null), CancellationToken.None);
        await driver.Ledger.FailAsync(claimFailed.Lease!, "IOException: the bucket cannot be written", CancellationToken.None);
        var claimSucceeded = await driver.Ledger.ClaimAsync(new ClaimRequest(succeeded, Stage.Bronze, owner.JobName, null, null, null, null), CancellationToken.None);
        var window = new TimeWindow(TimeProvider.System.GetUtcNow().AddHours(-3), TimeProvider.System.GetUtcNow().AddHours(-1));
        await driver.Ledger.CompleteAsync(claimSucceeded.Lease!, new StageSuccess(window, [], 0, new Dictionary<string, long>(), "{}"), CancellationToken.None);

        var published = new Dictionary<string, Guid>();
        foreach (var id in new[] { failed, succeeded })
        {
            published[await driver.PublishRawAsync(Encoding.UTF8.GetBytes($$"""{"execution_id":"{{id}}","job_name":"{{other.JobName}}"}"""))] = id;
        }

        var store = new RejectedMessageStore(stack.DataSource);
        async Task<List<RejectedMessageStore.Row>> RecordedAsync() =>
            (await store.ListByFunctionAsync("extract", since, CancellationToken.None)).Where(r => r.MessageId is not null && published.ContainsKey(r.MessageId)).ToList();
        await Eventually.WaitAsync(async () => (await RecordedAsync()).Count == 2, PipelineDriver.RunTimeout, "both messages rejected");
        await Task.Delay(TimeSpan.FromSeconds(5)); // a redelivery would record it again

        var rows = await RecordedAsync();
        Assert.Equal(2, rows.Count);
        foreach (var row in rows)
        {
            Assert.Equal("execution_id", row.Field);
            Assert.Equal(published[row.MessageId!].ToString("D"), row.ExecutionId);
            Assert.StartsWith($"belongs to job '{owner.JobName}', not '{other.JobName}'", row.Reason, StringComparison.Ordinal);
        }

        var failedRow = await driver.Ledger.GetAsync(failed, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("FAILED", 1, owner.JobName), (failedRow!.Status, failedRow.Attempt, failedRow.JobName));
        Assert.Null(await driver.Ledger.GetAsync(succeeded, Stage.Silver, CancellationToken.None));
        Assert.Empty(await driver.PullDeadLettersAsync());
    }

    [Fact]
    public async Task ARejectionFoundAfterTheClaim_FailsTheStage_SoTheMessageIsRedeliveredNotAcked()
    {
        var job = await stack.CreateJobAsync();
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions());
        var runner = new StageRunner(
            ledger,
            new JobConfigRepository(stack.DataSource),
            new Lazy<IPublisherClient>(() => throw new InvalidOperationException("a failed stage publishes nothing")),
            new StageTopics("unused-"),
            TimeProvider.System,
            NullLogger<StageRunner>.Instance);
        var input = new StageInput(Guid.NewGuid(), job.JobName, null, null);

        // Not a MessageRejectedException, which the host would answer 200 (acked, never redelivered) to.
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunAsync(new RejectsAfterItsClaim(), input, CancellationToken.None));

        Assert.IsType<MessageRejectedException>(failure.InnerException);
        var row = await ledger.GetAsync(input.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("FAILED", 1), (row!.Status, row.Attempt));
        Assert.Equal("InvalidOperationException: outputs: out of reach (found after the claim, so a failure, not a rejection)", row.Error);
    }

    private sealed class RejectsAfterItsClaim : IStageWork
    {
        public Stage Stage => Stage.Bronze;

        public Task<StageOutcome> ExecuteAsync(StageContext context) => throw new MessageRejectedException("outputs", "out of reach");
    }
}
