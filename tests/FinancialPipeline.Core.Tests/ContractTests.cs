using System.Text;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;

namespace FinancialPipeline.Core.Tests;

public sealed class ContractTests
{
    [Theory]
    [InlineData("""{"job_name":"financial_extract"}""", "execution_id")]
    [InlineData("""{"execution_id":"nope","job_name":"financial_extract"}""", "execution_id")]
    [InlineData("""{"execution_id":"00000000-0000-0000-0000-000000000000","job_name":"financial_extract"}""", "execution_id")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890"}""", "job_name")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"Robert'); DROP TABLE x;--"}""", "job_name")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","window":"today"}""", "window")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","window":{"start":"2026-11-20T00:00:00Z"}}""", "window.end")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","window":{"start":"2026-11-20T00:00:00-03:00","end":"2026-11-21T00:00:00Z"}}""", "window.start")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","requested_at":12}""", "requested_at")]
    [InlineData("""[]""", "data")]
    [InlineData("""{"execution_id":"\ud800","job_name":"j"}""", "execution_id")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"\udc00x"}""", "job_name")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","window":{"start":"\ud800","end":"2026-11-21T00:00:00Z"}}""", "window.start")]
    public void StartMessage_RejectsBadInput_NamingTheField(string json, string field)
    {
        var ex = Assert.Throws<MessageRejectedException>(() => StartMessage.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(field, ex.Field);
    }

    [Theory]
    [InlineData("10:00Z")] // a time alone: the BCL filled in the machine's date
    [InlineData("01/02/2026Z")] // month first
    [InlineData("11/20/2026 Z")]
    [InlineData("Fri, 20 Nov 2026 00:00:00Z")] // RFC 1123
    [InlineData("2026-11-20Z")]
    [InlineData("2026-11-20 00:00:00Z")] // RFC 3339 names a space as a readability choice, not its grammar
    [InlineData("2026-11-20T00:00Z")] // seconds are required
    [InlineData("2026-11-20T0:00:00Z")]
    [InlineData("2026-11-20T00:00:00.Z")]
    [InlineData("2026-11-20T00:00:00.12345678Z")] // finer than 100 ns
    [InlineData("2026-11-20T00:00:00")] // no offset
    [InlineData("2026-11-20T00:00:00+0000")]
    [InlineData(" 2026-11-20T00:00:00Z")]
    [InlineData("2026-11-20T00:00:00Z ")]
    [InlineData("\uff12\uff10\uff12\uff16-11-20T00:00:00Z")] // full-width digits
    [InlineData("2026-13-20T00:00:00Z")]
    [InlineData("2026-11-20T24:00:00Z")]
    public void Timestamps_OtherThanRfc3339_AreRejected_NamingTheField(string timestamp)
    {
        var json = $$$"""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","window":{"start":"{{{timestamp}}}","end":"2026-11-21T00:00:00Z"}}""";

        var ex = Assert.Throws<MessageRejectedException>(() => StartMessage.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal("window.start", ex.Field);
        Assert.Contains("RFC 3339", ex.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2026-11-20T00:00:00Z", "2026-11-20T00:00:00.0000000Z")]
    [InlineData("2026-11-20t00:00:00z", "2026-11-20T00:00:00.0000000Z")] // RFC 3339 allows lower-case T and Z
    [InlineData("2026-11-20T00:00:00+00:00", "2026-11-20T00:00:00.0000000Z")]
    [InlineData("2026-11-20T00:00:00-00:00", "2026-11-20T00:00:00.0000000Z")] // UTC, local offset unknown (RFC 3339 4.3)
    [InlineData("2026-11-20T00:00:00.5Z", "2026-11-20T00:00:00.5000000Z")]
    [InlineData("2026-11-20T00:00:00.123456Z", "2026-11-20T00:00:00.1234560Z")]
    [InlineData("2024-02-29T23:59:59.999999Z", "2024-02-29T23:59:59.9999990Z")]
    public void Rfc3339UtcTimestamps_AreRead(string timestamp, string expected)
    {
        var json = $$"""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","requested_at":"{{timestamp}}"}""";

        var parsed = StartMessage.Parse(Encoding.UTF8.GetBytes(json));

        Assert.Equal(expected, parsed.RequestedAt!.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture).Replace("+00:00", "Z", StringComparison.Ordinal));
        Assert.Equal(TimeSpan.Zero, parsed.RequestedAt.Value.Offset);
    }

    [Theory]
    [InlineData("2026-11-20T00:00:00Z", "2026-11-20T00:00:00.0000001Z", "window.end")] // the ledger kept an empty window: 500 on every delivery
    [InlineData("2026-11-20T00:00:00.1234567Z", "2026-11-21T00:00:00Z", "window.start")]
    public void StartWindow_FinerThanAMicrosecond_IsRejectedNamingTheBound(string start, string end, string field)
    {
        var json = $$$"""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","window":{"start":"{{{start}}}","end":"{{{end}}}"}}""";

        var ex = Assert.Throws<MessageRejectedException>(() => StartMessage.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal((field, (Guid?)Guid.Parse("6f1c2d3e-4b5a-4c6d-8e7f-901234567890")), (ex.Field, ex.ExecutionId));
        Assert.Contains("finer than a microsecond", ex.Reason, StringComparison.Ordinal);
        Assert.NotNull(StartMessage.Parse(Encoding.UTF8.GetBytes(json.Replace("0000001Z", "000001Z", StringComparison.Ordinal).Replace(".1234567Z", ".123456Z", StringComparison.Ordinal))).Window);
    }

    [Theory]
    [InlineData("2026-11-20T00:00:00-03:00")]
    [InlineData("2026-11-20T00:00:00+01:00")]
    public void Rfc3339TimestampsWithAnotherOffset_AreRejectedAsNotUtc(string timestamp)
    {
        var json = $$"""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","requested_at":"{{timestamp}}"}""";

        var ex = Assert.Throws<MessageRejectedException>(() => StartMessage.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal("requested_at", ex.Field);
        Assert.Contains("must be UTC", ex.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "is empty: the message has no data")]
    [InlineData(" \r\n", "is blank: 3 byte(s) of whitespace")]
    public void NoData_IsRejectedAsEmpty_NotAsInvalidJson(string data, string reason)
    {
        var ex = Assert.Throws<MessageRejectedException>(() => StartMessage.Parse(Encoding.UTF8.GetBytes(data)));

        Assert.Equal("data", ex.Field);
        Assert.StartsWith(reason, ex.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("JSON tokens", ex.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-90123456789e","job_name":"financial_extract","execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-90123456789f"}""", "execution_id")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-90123456789e","job_name":"a","job_name":"b"}""", "job_name")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-90123456789e","job_name":"a","window":{"start":"2026-11-01T00:00:00Z","start":"2026-11-02T00:00:00Z","end":"2026-11-03T00:00:00Z"}}""", "window.start")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-90123456789e","job_name":"a","extra":[{"k":1},{"k":1,"k":2}]}""", "extra[1].k")]
    public void AMessageNamingAPropertyTwice_IsRejected_NotResolvedByTheLastOne(string json, string field)
    {
        var ex = Assert.Throws<MessageRejectedException>(() => StartMessage.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal((field, "is given twice in the same object; which value was meant is ambiguous"), (ex.Field, ex.Reason));
        // Filed under the message's execution, unless its id is what is doubled.
        Assert.Equal(field == "execution_id" ? null : Guid.Parse("6f1c2d3e-4b5a-4c6d-8e7f-90123456789e"), ex.ExecutionId);
    }

    [Theory]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"Bad Job!"}""", "job_name")]
    [InlineData("""{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"j","window":"today"}""", "window")]
    public void StartMessage_RejectedAfterItsExecutionIdParsed_NamesThatExecution(string json, string field)
    {
        var ex = Assert.Throws<MessageRejectedException>(() => StartMessage.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal((field, (Guid?)Guid.Parse("6f1c2d3e-4b5a-4c6d-8e7f-901234567890")), (ex.Field, ex.ExecutionId));
        Assert.Null(Assert.Throws<MessageRejectedException>(() => StartMessage.Parse("""{"execution_id":"nope","job_name":"Bad Job!"}"""u8.ToArray())).ExecutionId);
    }

    [Fact]
    public void StartMessage_RoundTrips_AndIgnoresUnknownFields()
    {
        var json = """{"execution_id":"6f1c2d3e-4b5a-4c6d-8e7f-901234567890","job_name":"financial_extract","extra":{"x":1},"requested_at":"2026-11-23T20:05:00Z","window":{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"}}""";
        var parsed = StartMessage.Parse(Encoding.UTF8.GetBytes(json));
        Assert.Equal(parsed, StartMessage.Parse(parsed.ToUtf8Json()));
        Assert.Equal(TimeSpan.FromDays(1), parsed.Window!.Value.Duration);
    }

    [Fact]
    public void CompletionMessage_RoundTrips_AndChecksStageAndVersion()
    {
        var message = new StageCompletedMessage
        {
            ExecutionId = Guid.NewGuid(),
            JobName = "financial_extract",
            Stage = "bronze",
            Window = new WindowDto(new DateTimeOffset(2026, 11, 20, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 21, 0, 0, 0, TimeSpan.Zero)),
            Records = new RecordCounts(10, 9, 1),
            Outputs = ["gs://b/o"],
            TouchedDates = ["2026-11-20"],
            CompletedAt = new DateTimeOffset(2026, 11, 21, 0, 1, 0, TimeSpan.Zero),
        };
        var json = message.ToUtf8Json();
        var back = StageCompletedMessage.Parse(json, Stage.Bronze);
        Assert.Equal(message.ExecutionId, back.ExecutionId);
        Assert.Equal(message.Records, back.Records);
        Assert.Equal(message.Outputs, back.Outputs);
        Assert.Contains("\"schema_version\":1", Encoding.UTF8.GetString(json), StringComparison.Ordinal);
        Assert.Equal("stage", Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(json, Stage.Silver)).Field);
        var v2 = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(json).Replace("\"schema_version\":1", "\"schema_version\":2", StringComparison.Ordinal));
        Assert.Equal("schema_version", Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(v2, Stage.Bronze)).Field);
        // Gold reads the dates after its claim: a malformed one is rejected with the shape, before it.
        var badDate = (message with { TouchedDates = ["2026-11-20", "20/11/2026"] }).ToUtf8Json();
        Assert.Equal("touched_dates[1]", Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(badDate, Stage.Bronze)).Field);
        // Once the execution id parsed, every rejection names it (recorded under that execution).
        var badJob = (message with { JobName = "Bad Job!" }).ToUtf8Json();
        Assert.Equal(("job_name", (Guid?)message.ExecutionId), Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(badJob, Stage.Bronze)) is var r ? (r.Field, r.ExecutionId) : default);
        Assert.Equal(message.ExecutionId, Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(badDate, Stage.Bronze)).ExecutionId);
        Assert.Equal(message.ExecutionId, Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(json, Stage.Silver)).ExecutionId);
    }

    /// <summary>
    /// Entries the typed deserialisation took as they were: a null output reached Transform after its claim as a bare
    /// NullReferenceException, and a null touched date slipped past the date check (gold then failed on "''"). Each is
    /// a shape error of the message, rejected by Parse naming the entry, under the message's execution.
    /// </summary>
    [Theory]
    [InlineData("outputs", "[null]", "outputs[0]", "is null")]
    [InlineData("outputs", "[\"gs://b/o\", 7]", "outputs[1]", "must be a string, got Number")]
    [InlineData("outputs", "null", "outputs", "must be an array of strings, got Null")]
    [InlineData("outputs", "\"gs://b/o\"", "outputs", "must be an array of strings, got String")]
    [InlineData("touched_dates", "[null]", "touched_dates[0]", "is null")]
    [InlineData("touched_dates", "[\"2026-11-20\", null]", "touched_dates[1]", "is null")]
    [InlineData("touched_dates", "[\"2026-11-20\", 20261120]", "touched_dates[1]", "must be a string, got Number")]
    [InlineData("touched_dates", "[\"2026-11-20\", \"\"]", "touched_dates[1]", "'' is not yyyy-MM-dd")]
    [InlineData("touched_dates", "null", "touched_dates", "must be an array of strings, got Null")]
    [InlineData("failed_tickers", "[null]", "failed_tickers[0]", "is null")]
    [InlineData("records", "null", "records", "must be an object with in, written and rejected, got Null")]
    [InlineData("metrics", "null", "metrics", "must be an object of named counts, got Null")]
    [InlineData("completed_at", "\"2026-11-21T05:01:00+05:00\"", "completed_at", "must be UTC")]
    [InlineData("completed_at", "\"2026-11-21T00:01:00\"", "completed_at", "is not an RFC 3339 timestamp")]
    [InlineData("newest_timestamp", "\"11/20/2026 23:00Z\"", "newest_timestamp", "is not an RFC 3339 timestamp")]
    public void CompletionMessage_NullOrNonStringEntries_AreRejectedNamingTheEntry(string field, string value, string expectedField, string reason)
    {
        var executionId = Guid.NewGuid();
        var body = System.Text.Json.Nodes.JsonNode.Parse($$"""
            {"schema_version":1,"execution_id":"{{executionId}}","job_name":"financial_extract","stage":"silver",
             "window":{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"},"records":{"in":1,"written":1,"rejected":0},
             "outputs":["gs://b/o"],"touched_dates":["2026-11-20"],"metrics":{},"failed_tickers":[],"attempt":1,"completed_at":"2026-11-21T00:01:00Z"}
            """)!.AsObject();
        Assert.Equal(executionId, StageCompletedMessage.Parse(Encoding.UTF8.GetBytes(body.ToJsonString()), Stage.Silver).ExecutionId); // valid as it stands
        body[field] = System.Text.Json.Nodes.JsonNode.Parse(value);

        var rejected = Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(Encoding.UTF8.GetBytes(body.ToJsonString()), Stage.Silver));

        Assert.Equal((expectedField, (Guid?)executionId), (rejected.Field, rejected.ExecutionId));
        Assert.Contains(reason, rejected.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"failed_tickers\":[]", "\"failed_tickers\":[\"\\ud800\"]", "failed_tickers[0]")]
    [InlineData("\"job_name\":\"financial_extract\"", "\"job_name\":\"\\udc00\"", "job_name")]
    public void CompletionMessage_TextEscapingAnUnpairedSurrogate_IsRejected_NotThrown(string valid, string invalid, string field)
    {
        var executionId = Guid.NewGuid();
        var body = $$"""
            {"schema_version":1,"execution_id":"{{executionId}}","job_name":"financial_extract","stage":"silver",
             "window":{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"},"records":{"in":1,"written":1,"rejected":0},
             "outputs":["gs://b/o"],"touched_dates":["2026-11-20"],"metrics":{},"failed_tickers":[],"attempt":1,"completed_at":"2026-11-21T00:01:00Z"}
            """;
        Assert.Contains(valid, body, StringComparison.Ordinal);

        var rejected = Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(Encoding.UTF8.GetBytes(body.Replace(valid, invalid, StringComparison.Ordinal)), Stage.Silver));

        Assert.Equal((field, (Guid?)executionId), (rejected.Field, rejected.ExecutionId));
        Assert.Contains("not valid UTF-16", rejected.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CompletionMessage_AMetricNameEscapingAnUnpairedSurrogate_IsRejectedByTheTypedRead()
    {
        // Only the typed deserialisation reads metric names; System.Text.Json reports the bad text as a JsonException.
        var executionId = Guid.NewGuid();
        var body = $$"""
            {"schema_version":1,"execution_id":"{{executionId}}","job_name":"financial_extract","stage":"silver",
             "window":{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"},"records":{"in":1,"written":1,"rejected":0},
             "outputs":[],"touched_dates":[],"metrics":{"\ud800":1},"failed_tickers":[],"attempt":1,"completed_at":"2026-11-21T00:01:00Z"}
            """;

        var rejected = Assert.Throws<MessageRejectedException>(() => StageCompletedMessage.Parse(Encoding.UTF8.GetBytes(body), Stage.Silver));

        Assert.Equal(("$.metrics", (Guid?)executionId), (rejected.Field, rejected.ExecutionId));
        Assert.StartsWith("has the wrong shape", rejected.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AAPL,bad ticker!", 3600, 10800, "fp-bronze", "1h", "tickers")]
    [InlineData("AAPL,ABCDEFGHIJKLMNOPQRSTU", 3600, 10800, "fp-bronze", "1h", "tickers")]
    [InlineData("AAPL", 10, 10800, "fp-bronze", "1h", "interval")]
    [InlineData("AAPL", 3600, -5, "fp-bronze", "1h", "overlap")]
    [InlineData("AAPL", 3600, 10800, "Bad_Bucket", "1h", "bucket_name")]
    [InlineData("AAPL", 3600, 10800, "google-bucket", "1h", "bucket_name")]
    [InlineData("AAPL", 3600, 10800, "fp-bronze", "7h", "bar_interval")]
    public void JobConfig_RejectsBadRows_NamingTheColumn(string tickers, int interval, int overlap, string bucket, string bar, string column)
    {
        var ex = Assert.Throws<JobConfigException>(() => JobConfig.Create("job", tickers, interval, overlap, bucket, null, "synthetic", bar, null, true));
        Assert.Equal(column, ex.Column);
        Assert.Contains(column, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("..,AAPL", "..")] // Yahoo's request became /v8/finance/?…, another endpoint
    [InlineData("AAPL .", ".")] // …/chart/?…
    [InlineData("^", "^")]
    [InlineData("-", "-")]
    [InlineData("=.^-", "=.^-")]
    public void JobConfig_TickerWithoutALetterOrDigit_IsRejected(string tickers, string bad)
    {
        var ex = Assert.Throws<JobConfigException>(() => JobConfig.Create("job", tickers, 3600, 10800, "fp-bronze", null, "synthetic", "1h", null, true));

        Assert.Equal(("tickers", bad), (ex.Column, ex.Value));
        Assert.False(JobConfig.IsValidTicker(bad));
    }

    [Theory]
    [InlineData("A")]
    [InlineData("^GSPC")]
    [InlineData("BRK.B")]
    [InlineData("EURUSD=X")]
    [InlineData("BTC-USD")]
    [InlineData("7203.T")]
    public void JobConfig_RealTickerShapes_AreAccepted(string ticker)
    {
        Assert.True(JobConfig.IsValidTicker(ticker));
        Assert.Equal([ticker], JobConfig.Create("job", ticker, 3600, 10800, "fp-bronze", null, "synthetic", "1h", null, true).Tickers);
    }

    [Fact]
    public void JobConfig_DefaultOverlap_RefetchesThreeBars()
    {
        var job = JobConfig.Create("job", "aapl, msft;BRK.B ^GSPC", null, null, "fp-bronze", null, "synthetic", "1h", null, true);
        Assert.Equal(["AAPL", "MSFT", "BRK.B", "^GSPC"], job.Tickers);
        Assert.Equal(TimeSpan.FromHours(3), job.Overlap);
        Assert.Equal("fp-bronze", job.SilverBucketName);
    }
}
