using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// Completion events that can never succeed, pushed over HTTP to the Transform and Aggregate hosts: each is answered
/// 200, recorded in rejected_message with the field that is wrong, and leaves no ledger row (rejected before the
/// claim, so it never loops into the dead-letter topic). The events are a real execution's, altered.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class CompletionEventRejectionTests(StackFixture stack)
{
    [Fact]
    public async Task BronzeEvents_WhoseOutputsAreNotThisExecutionsBronzeObjects_AreRejectedBeforeTheClaim()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var (executionA, bronzeA) = await RunOneExecutionAsync(driver, job.JobName, Stage.Bronze);
        var objectA = bronzeA["outputs"]![0]!.GetValue<string>();
        Assert.Contains($"/{job.BucketName}/financial_quotes/ingest_date=", objectA, StringComparison.Ordinal);

        var cases = new List<(Guid Execution, JsonNode? Output, string Reason)>();
        void Case(Func<Guid, JsonNode?> output, string reason)
        {
            var b = Guid.NewGuid();
            cases.Add((b, output(b), reason));
        }

        string Own(Guid b) => objectA.Replace(executionA.ToString("D"), b.ToString("D"), StringComparison.Ordinal);
        var relative = objectA[objectA.IndexOf("financial_quotes/", StringComparison.Ordinal)..];
        // The audit's reproduction: execution B's event naming A's bronze object (silver and gold of B succeeded on A's bars).
        Case(_ => objectA, $"is the bronze object of execution {executionA:D}, not of this execution");
        Case(_ => null, "is null");
        Case(b => Own(b).Replace("/financial_quotes/", "/financial_quotes/../financial_quotes/", StringComparison.Ordinal), "has a '.' or '..' segment");
        Case(b => Own(b).Replace("/financial_quotes/", "/financial_quotes/%2E%2E/financial_quotes/", StringComparison.Ordinal), "has a '.' or '..' segment");
        Case(b => relative.Replace(executionA.ToString("D"), b.ToString("D"), StringComparison.Ordinal), "is not an absolute URI");
        Case(b => "gs://" + job.BucketName + "/" + relative.Replace(executionA.ToString("D"), b.ToString("D"), StringComparison.Ordinal), "is not an object URI of this store");
        Case(b => Own(b).Replace(".parquet", ".csv", StringComparison.Ordinal), "is not a bronze object");
        Case(b => Own(b).Replace("/financial_quotes/", "/copies/financial_quotes/", StringComparison.Ordinal), "is not a bronze object");
        Case(b => Own(b) + "\n", "is not a bronze object"); // a regex '$' would have matched before the line feed

        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        foreach (var (execution, output, _) in cases)
        {
            var body = bronzeA.DeepClone().AsObject();
            body["execution_id"] = execution.ToString("D");
            body["outputs"] = new JsonArray(output);
            await PushAsync(pipeline.HostAddresses[1], body, execution, HttpStatusCode.OK);
        }

        var rows = await new RejectedMessageStore(stack.DataSource).ListByFunctionAsync("transform", since, CancellationToken.None);
        foreach (var (execution, _, reason) in cases)
        {
            var row = Assert.Single(rows, r => r.MessageId == execution.ToString("N"));
            Assert.Equal(("outputs[0]", execution.ToString("D")), (row.Field, row.ExecutionId));
            Assert.Contains(reason, row.Reason, StringComparison.Ordinal);
            Assert.Null(await driver.Ledger.GetAsync(execution, Stage.Silver, CancellationToken.None));
        }

        // A valid object URI of another bucket stays a failure after the claim: the job's bucket_name may be fixed,
        // and fp replay then runs it.
        var elsewhere = Guid.NewGuid();
        var moved = bronzeA.DeepClone().AsObject();
        moved["execution_id"] = elsewhere.ToString("D");
        moved["outputs"] = new JsonArray(Own(elsewhere).Replace($"/{job.BucketName}/", "/bronze-elsewhere/", StringComparison.Ordinal));
        await PushAsync(pipeline.HostAddresses[1], moved, elsewhere, HttpStatusCode.InternalServerError);
        var failed = await driver.Ledger.GetAsync(elsewhere, Stage.Silver, CancellationToken.None);
        Assert.Equal("FAILED", failed!.Status);
        Assert.Contains($"is not an object of bucket {job.BucketName} (the job's bucket_name)", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SilverEvents_WhoseTouchedDatesAreNullOrImplausible_AreRejectedBeforeTheClaim()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var (_, silver) = await RunOneExecutionAsync(driver, job.JobName, Stage.Silver);
        var today = DateOnly.FromDateTime(TimeProvider.System.GetUtcNow().UtcDateTime);
        var cases = new (JsonNode?[] Dates, string Field, string Reason)[]
        {
            ([null], "touched_dates[0]", "is null"),
            (["0001-01-01"], "touched_dates[0]", "0001-01-01 is not a bar date silver can have written"),
            (["9999-12-31"], "touched_dates[0]", "9999-12-31 is not a bar date silver can have written"),
            (["0100-01-01", "9000-01-01"], "touched_dates[0]", "0100-01-01 is not a bar date"),
            ([today.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), "1969-12-31"], "touched_dates[1]", "from 1970-01-01 to "),
            ([today.AddDays(2).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)], "touched_dates[0]", "(tomorrow, UTC)"),
        };

        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        var sent = new List<Guid>();
        foreach (var (dates, _, _) in cases)
        {
            var id = Guid.NewGuid();
            sent.Add(id);
            var body = silver.DeepClone().AsObject();
            body["execution_id"] = id.ToString("D");
            body["touched_dates"] = new JsonArray(dates.Select(d => d?.DeepClone()).ToArray());
            await PushAsync(pipeline.HostAddresses[2], body, id, HttpStatusCode.OK);
        }

        var rows = await new RejectedMessageStore(stack.DataSource).ListByFunctionAsync("aggregate", since, CancellationToken.None);
        for (var i = 0; i < cases.Length; i++)
        {
            var row = Assert.Single(rows, r => r.MessageId == sent[i].ToString("N"));
            Assert.Equal((cases[i].Field, sent[i].ToString("D")), (row.Field, row.ExecutionId));
            Assert.Contains(cases[i].Reason, row.Reason, StringComparison.Ordinal);
            Assert.Null(await driver.Ledger.GetAsync(sent[i], Stage.Gold, CancellationToken.None));
        }

        // Silver says which tickers it ran with (gold recomputes those, whatever the job row says by then); an entry that
        // is not a ticker is rejected before the claim.
        Assert.Equal(job.Tickers, silver["tickers"]!.AsArray().Select(t => t!.GetValue<string>()));
        var badTicker = Guid.NewGuid();
        var withBadTicker = silver.DeepClone().AsObject();
        withBadTicker["execution_id"] = badTicker.ToString("D");
        withBadTicker["tickers"] = new JsonArray("AAPL", "../x");
        await PushAsync(pipeline.HostAddresses[2], withBadTicker, badTicker, HttpStatusCode.OK);
        var tickerRow = Assert.Single(await new RejectedMessageStore(stack.DataSource).ListByFunctionAsync("aggregate", since, CancellationToken.None), r => r.MessageId == badTicker.ToString("N"));
        Assert.Equal("tickers[1]", tickerRow.Field);
        Assert.Contains("'../x' is not a ticker", tickerRow.Reason, StringComparison.Ordinal);

        // Partitions silver wrote to another bucket than the job's silver_bucket_name (the row was changed since): a
        // failure after the claim, not a rejection, and gold merges nothing instead of deleting the touched hours.
        var elsewhere = Guid.NewGuid();
        var moved = silver.DeepClone().AsObject();
        moved["execution_id"] = elsewhere.ToString("D");
        var outputs = moved["outputs"]!.AsArray().Select(o => o!.GetValue<string>()).ToList();
        Assert.Contains(outputs, o => o.Contains($"/{job.SilverBucketName}/financial_quotes/date=", StringComparison.Ordinal));
        moved["outputs"] = new JsonArray(outputs.Select(o => (JsonNode)o.Replace($"/{job.SilverBucketName}/", "/silver-elsewhere/", StringComparison.Ordinal)).ToArray());
        await PushAsync(pipeline.HostAddresses[2], moved, elsewhere, HttpStatusCode.InternalServerError);
        var failed = await driver.Ledger.GetAsync(elsewhere, Stage.Gold, CancellationToken.None);
        Assert.Equal("FAILED", failed!.Status);
        Assert.Contains($"silver wrote this execution's partitions to bucket silver-elsewhere, but the job's silver_bucket_name is now {job.SilverBucketName}", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACompletionEventOfAnotherTopic_PushedToExtract_IsRejectedNamingCeSource_NotRunAsAStart()
    {
        // A subscription of bronze-completed wired to Extract: the event parses as a start message (it has execution_id
        // and job_name), and would start bronze again and re-emit bronze-completed, for ever.
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var (_, bronzeA) = await RunOneExecutionAsync(driver, job.JobName, Stage.Bronze);
        var b = Guid.NewGuid();
        var body = bronzeA.DeepClone().AsObject();
        body["execution_id"] = b.ToString("D");
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        var wrongTopic = pipeline.Settings.TopicPrefix + "bronze-completed";

        await PushAsync(new Uri(pipeline.HostAddresses[0], $"projects/{pipeline.Topology.ProjectId}/topics/{wrongTopic}"), body, b, HttpStatusCode.OK);

        var row = Assert.Single(await new RejectedMessageStore(stack.DataSource).ListByFunctionAsync("extract", since, CancellationToken.None), r => r.MessageId == b.ToString("N"));
        Assert.Equal(("ce-source", b.ToString("D")), (row.Field, row.ExecutionId));
        Assert.Contains($"published to {wrongTopic}, but bronze runs on messages of {pipeline.Settings.TopicPrefix}start", row.Reason, StringComparison.Ordinal);
        Assert.Null(await driver.Ledger.GetAsync(b, Stage.Bronze, CancellationToken.None));
    }

    /// <summary>One real execution to gold SUCCESS: its id and <paramref name="stage"/>'s stored completion event, to alter.</summary>
    private static async Task<(Guid Execution, JsonObject Completion)> RunOneExecutionAsync(PipelineDriver driver, string jobName, Stage stage)
    {
        var start = new StartMessage(Guid.NewGuid(), jobName, null, null);
        await driver.PublishStartAsync(start);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);
        var row = await driver.Ledger.GetAsync(start.ExecutionId, stage, CancellationToken.None);
        return (start.ExecutionId, JsonNode.Parse(row!.CompletionJson!)!.AsObject());
    }

    /// <summary>A Pub/Sub push of <paramref name="body"/> (message id: the execution in "N" form), answered <paramref name="expected"/>.</summary>
    private static async Task PushAsync(Uri host, JsonObject body, Guid execution, HttpStatusCode expected)
    {
        using var http = new HttpClient();
        var data = Convert.ToBase64String(Encoding.UTF8.GetBytes(body.ToJsonString()));
        var push = $$"""{"message":{"data":"{{data}}","messageId":"{{execution:N}}"},"subscription":"projects/p/subscriptions/completion-rejection-test"}""";
        using var response = await http.PostAsync(host, new StringContent(push, Encoding.UTF8, "application/json"));
        Assert.True(expected == response.StatusCode, $"{body["outputs"]?.ToJsonString()} {body["touched_dates"]?.ToJsonString()}: answered {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }
}
