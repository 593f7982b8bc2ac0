using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.DevServices;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Integration.Tests;

[Collection(nameof(StackFixture))]
public sealed class ExtractTests(StackFixture stack)
{
    [Fact]
    public async Task TwoConsecutiveHourlyRuns_WriteTwoBronzeObjects_WhoseBarsOverlapByExactlyTheConfiguredOverlap()
    {
        var job = await stack.CreateJobAsync(lookbackSeconds: 86400);
        // Wednesday 15:05 New York: the scheduler's :05 run during a session, then the next hour's.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 18, 20, 5, 0, TimeSpan.Zero));
        await using var pipeline = await stack.StartPipelineAsync((_, services) => services.AddSingleton<TimeProvider>(clock));
        var driver = new PipelineDriver(stack, pipeline);

        var first = new StartMessage(Guid.NewGuid(), job.JobName, clock.GetUtcNow(), null);
        await driver.PublishStartAsync(first);
        await driver.WaitForGoldSuccessAsync(first.ExecutionId);
        clock.Advance(TimeSpan.FromHours(1));
        var second = new StartMessage(Guid.NewGuid(), job.JobName, clock.GetUtcNow(), null);
        await driver.PublishStartAsync(second);
        await driver.WaitForGoldSuccessAsync(second.ExecutionId);

        var bronze1 = (await driver.Ledger.GetAsync(first.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        var bronze2 = (await driver.Ledger.GetAsync(second.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        Assert.Equal(bronze1.EndTime!.Value - job.Overlap, bronze2.StartTime);
        var bars1 = await ReadBronzeAsync(pipeline, job.BucketName, bronze1);
        var bars2 = await ReadBronzeAsync(pipeline, job.BucketName, bronze2);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(pipeline.Settings.BucketsRoot, job.BucketName), "*.parquet", SearchOption.AllDirectories).Length);

        var keys1 = bars1.Select(b => (b.Bar.Ticker, b.Bar.Timestamp)).ToHashSet();
        var keys2 = bars2.Select(b => (b.Bar.Ticker, b.Bar.Timestamp)).ToHashSet();
        var shared = keys1.Intersect(keys2).OrderBy(k => k).ToList();
        var inOverlap = keys1.Where(k => k.Timestamp >= bronze1.EndTime!.Value - job.Overlap).OrderBy(k => k).ToList();
        Assert.Equal(inOverlap, shared);
        Assert.Equal(3 * job.Tickers.Count, shared.Count); // 3 hourly bars (16:30, 17:30, 18:30 UTC) per ticker
        Assert.All(keys2.Except(keys1), k => Assert.True(k.Timestamp >= bronze1.EndTime!.Value, "the second run re-fetched more than the overlap"));

        // The overlap was fetched twice and kept once.
        var silverRows = 0;
        foreach (var file in Directory.GetFiles(Path.Combine(pipeline.Settings.BucketsRoot, job.SilverBucketName, ObjectLayout.Dataset), "*.parquet", SearchOption.AllDirectories))
        {
            await using var stream = File.OpenRead(file);
            silverRows += (await BarParquet.ReadAsync(stream)).Count;
        }

        Assert.Equal(keys1.Union(keys2).Count(), silverRows);
    }

    [Fact]
    public async Task YahooProvider_AnUnknownTickerIsRecordedAndDoesNotFailTheOthers()
    {
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions { UnknownSymbols = new HashSet<string> { "ZZZZ" } });
        await using var run = await RunYahooJobAsync(yahoo, "AAPL,ZZZZ,MSFT");
        var (pipeline, job, bronze, completion) = (run.Pipeline, run.Job, run.Bronze, run.Completion);

        Assert.Equal(["ZZZZ"], completion.FailedTickers);
        Assert.Equal(1, completion.Metrics["tickers_failed"]);
        var bars = await ReadBronzeAsync(pipeline, job.BucketName, bronze);
        Assert.Equal(["AAPL", "MSFT"], bars.Select(b => b.Bar.Ticker).Distinct().Order(StringComparer.Ordinal));
        Assert.All(bars, b => Assert.Equal("yahoo", b.Provider));
        Assert.All(bars, b => Assert.True(b.Bar.Timestamp < bronze.EndTime, "the live bar after period2 must be dropped"));
        Assert.Equal(1, yahoo.Answered404);
    }

    [Fact]
    public async Task YahooProvider_DroppedBarsAreCountedByReason_AndTheCurrencyReachesBronzeAndSilver()
    {
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions
        {
            NullBarSymbols = new HashSet<string> { "AAPL" },
            RepeatedBarSymbols = new HashSet<string> { "AAPL", "TM" },
            Currencies = new Dictionary<string, string> { ["TM"] = "JPY" },
        });
        var logs = new CapturingLoggerProvider();
        await using var run = await RunYahooJobAsync(yahoo, "AAPL,TM,MSFT", logs);
        var (pipeline, job, bronze, completion) = (run.Pipeline, run.Job, run.Bronze, run.Completion);

        // Every request of AAPL carries one null bar and one repeat, every request of TM one repeat.
        var requestsPerTicker = yahoo.Answered200 / 3;
        Assert.True(requestsPerTicker >= 1);
        Assert.Equal(requestsPerTicker, completion.Metrics["bars_dropped_null"]);
        Assert.Equal(2 * requestsPerTicker, completion.Metrics["bars_dropped_duplicate"]);
        Assert.Equal(3 * requestsPerTicker, completion.Metrics["bars_dropped"]);
        Assert.Equal(3 * requestsPerTicker, completion.Records.Rejected);
        Assert.Equal(completion.Records.Written + completion.Records.Rejected, completion.Records.In);
        // One Information line per ticker that dropped bars, with the split; none for MSFT, which dropped nothing.
        var dropLines = logs.Lines.Where(l => l.Category.EndsWith(".ExtractWork", StringComparison.Ordinal) && l.Message.Contains(" dropped ", StringComparison.Ordinal)).ToList();
        Assert.All(dropLines, l => Assert.Equal(LogLevel.Information, l.Level));
        Assert.Equal(
            [
                $"execution {run.Bronze.ExecutionId} of job {job.JobName}: AAPL dropped {requestsPerTicker} bar(s) with a null value and {requestsPerTicker} replaced by a later bar of the same timestamp",
                $"execution {run.Bronze.ExecutionId} of job {job.JobName}: TM dropped 0 bar(s) with a null value and {requestsPerTicker} replaced by a later bar of the same timestamp",
            ],
            dropLines.Select(l => l.Message));

        var bars = await ReadBronzeAsync(pipeline, job.BucketName, bronze);
        Assert.All(bars, b => Assert.Equal(b.Bar.Ticker == "TM" ? "JPY" : "USD", b.Bar.Currency));
        Assert.All(bars, b => Assert.Equal("America/New_York", b.Bar.ExchangeTimezone));
        var silverRoot = Path.Combine(pipeline.Settings.BucketsRoot, job.SilverBucketName, ObjectLayout.Dataset);
        var silver = new List<BarRecord>();
        foreach (var file in Directory.EnumerateFiles(silverRoot, "*.parquet", SearchOption.AllDirectories))
        {
            await using var stream = File.OpenRead(file);
            silver.AddRange(await BarParquet.ReadAsync(stream));
        }

        Assert.Equal(bars.Count, silver.Count);
        Assert.All(silver, b => Assert.Equal((b.Bar.Ticker == "TM" ? "JPY" : "USD", "America/New_York"), (b.Bar.Currency, b.Bar.ExchangeTimezone)));
    }

    [Fact]
    public async Task YahooProvider_ATickerFailingTransiently_FailsTheRun_WhoseRetryAfterRecoveryFetchesFromTheLastSuccess()
    {
        // MSFT answers 503 on every attempt of the second run; ZZZZ is unknown (permanent) throughout.
        var unavailable = new HashSet<string>(StringComparer.Ordinal);
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions
        {
            UnknownSymbols = new HashSet<string>(StringComparer.Ordinal) { "ZZZZ" },
            UnavailableSymbols = unavailable,
        });
        var job = await stack.CreateJobAsync("AAPL,MSFT,ZZZZ", lookbackSeconds: 86400, provider: "yahoo");
        // Wednesday 15:05 New York: a run during a session, then the next hour's.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 18, 20, 5, 0, TimeSpan.Zero));
        await using var pipeline = await stack.StartPipelineAsync((_, services) => services.AddSingleton<TimeProvider>(clock), o => o with { YahooBaseUrl = yahoo.BaseUrl });
        var driver = new PipelineDriver(stack, pipeline);
        var first = new StartMessage(Guid.NewGuid(), job.JobName, clock.GetUtcNow(), null);
        await driver.PublishStartAsync(first);
        await driver.WaitForGoldSuccessAsync(first.ExecutionId);
        var bronze1 = (await driver.Ledger.GetAsync(first.ExecutionId, Stage.Bronze, CancellationToken.None))!;

        clock.Advance(TimeSpan.FromHours(1));
        unavailable.Add("MSFT");
        var second = new StartMessage(Guid.NewGuid(), job.JobName, clock.GetUtcNow(), null);
        await driver.PublishStartAsync(second);
        var failed = await WaitForBronzeAsync(driver, second.ExecutionId, "FAILED", "bronze FAILED on MSFT's 503s");
        unavailable.Clear();

        Assert.Contains("1 of 3 tickers failed transiently (MSFT: yahoo request failed after 4 attempt(s): HTTP 503", failed.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("ZZZZ", failed.Error, StringComparison.Ordinal);
        Assert.True(yahoo.Answered503 >= 4, $"{yahoo.Answered503} × 503");
        Assert.False(File.Exists(Path.Combine(pipeline.Settings.BucketsRoot, job.BucketName, ObjectLayout.BronzeObject(failed.EndTime!.Value, second.ExecutionId))), "a run without MSFT wrote bronze");
        // Not a success: the next incremental window still starts from the first run's end.
        Assert.Equal(
            new TimeWindow(bronze1.StartTime!.Value, bronze1.EndTime!.Value),
            await driver.Ledger.LastSuccessfulWindowAsync(job.JobName, Stage.Bronze, Guid.NewGuid(), CancellationToken.None));

        // Pub/Sub redelivers; with Yahoo answering again the pinned window is written whole.
        await driver.WaitForGoldSuccessAsync(second.ExecutionId);
        var bronze2 = (await driver.Ledger.GetAsync(second.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        Assert.True(bronze2.Attempt >= 2);
        Assert.Equal(bronze1.EndTime.Value - job.Overlap, bronze2.StartTime);
        var completion = StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes(bronze2.CompletionJson!), Stage.Bronze);
        Assert.Equal(["ZZZZ"], completion.FailedTickers);
        var bars = await ReadBronzeAsync(pipeline, job.BucketName, bronze2);
        var hours = bars.Where(b => b.Bar.Ticker == "AAPL").Select(b => b.Bar.Timestamp).Order().ToList();
        Assert.Contains(hours, h => h >= bronze1.EndTime.Value); // the hour the failed attempt would have lost
        Assert.Equal(hours, bars.Where(b => b.Bar.Ticker == "MSFT").Select(b => b.Bar.Timestamp).Order());
    }

    [Fact]
    public async Task AJobWhoseEveryTickerFails_FailsTheStage_AndWritesNoObject()
    {
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions { UnknownSymbols = new HashSet<string> { "ZZZZ", "YYYY" } });
        var job = await stack.CreateJobAsync("ZZZZ,YYYY", provider: "yahoo");
        await using var pipeline = await stack.StartPipelineAsync(options: o => o with { YahooBaseUrl = yahoo.BaseUrl });
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, TimeProvider.System.GetUtcNow(), null);

        await driver.PublishStartAsync(start);
        var row = await WaitForBronzeAsync(driver, start.ExecutionId, "FAILED", "bronze FAILED");

        Assert.Contains("all 2 tickers failed", row.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(pipeline.Settings.BucketsRoot, job.BucketName)) && Directory.EnumerateFiles(Path.Combine(pipeline.Settings.BucketsRoot, job.BucketName), "*", SearchOption.AllDirectories).Any());
    }

    [Fact]
    public async Task ABackfillWindowWithNothingToFetch_IsRejectedBeforeTheClaim_WhileAPartlyFetchableOneRunsClamped()
    {
        var job = await stack.CreateJobAsync();
        var yahooJob = await stack.CreateJobAsync(provider: "yahoo"); // rejected before any request: no server needed
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        // Read once. The future window starts a day clear of now, so a run crossing UTC midnight still sees it as future;
        // the partly fetchable one's clamped end is checked against the bar ends before publishing and after the run.
        var publishedAt = TimeProvider.System.GetUtcNow();
        var today = new DateTimeOffset(publishedAt.UtcDateTime.Date, TimeSpan.Zero);
        var future = new StartMessage(Guid.NewGuid(), job.JobName, null, new TimeWindow(today.AddDays(2), today.AddDays(4)));
        var tooOld = new StartMessage(Guid.NewGuid(), yahooJob.JobName, null, new TimeWindow(today.AddDays(-900), today.AddDays(-800)));
        var partly = new StartMessage(Guid.NewGuid(), job.JobName, null, new TimeWindow(today.AddDays(-2), today.AddDays(2)));

        foreach (var start in new[] { future, tooOld, partly })
        {
            await driver.PublishStartAsync(start);
        }

        var rejections = new RejectedMessageStore(stack.DataSource);
        foreach (var (start, field) in new[] { (future, "window.start"), (tooOld, "window.end") })
        {
            var rejection = await Eventually.WaitAsync(
                async () => (await rejections.ListByExecutionAsync(start.ExecutionId, CancellationToken.None)).SingleOrDefault(),
                PipelineDriver.RunTimeout,
                $"the rejection of {field}");
            Assert.Equal(("extract", field), (rejection.FunctionName, rejection.Field));
            // Rejected before the claim: no row that fp runs would show as FAILED and offer to replay.
            Assert.Empty(await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None));
        }

        await driver.WaitForGoldSuccessAsync(partly.ExecutionId);
        var bronze = (await driver.Ledger.GetAsync(partly.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        Assert.Equal(partly.Window!.Value.Start, bronze.StartTime);
        // Clamped to the end of the last completed bar as of Extract's now (that minute less one bar), which lies
        // between these two instants. Worked out here, not with ExtractWindows.CompletedEnd, so that a wrong clamp there
        // shows; ExtractWindowTests covers the rule exactly.
        static DateTimeOffset LastCompletedBarEnd(DateTimeOffset now, TimeSpan bar) =>
            new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero) - bar;
        Assert.InRange(
            bronze.EndTime!.Value,
            LastCompletedBarEnd(publishedAt, job.BarSize),
            LastCompletedBarEnd(TimeProvider.System.GetUtcNow(), job.BarSize));
        var completion = StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes(bronze.CompletionJson!), Stage.Bronze);
        Assert.Equal(1, completion.Metrics["window_clamped"]);
        Assert.Empty(await rejections.ListByExecutionAsync(partly.ExecutionId, CancellationToken.None));
    }

    [Fact]
    public async Task ABackfillPinnedAtYahoosReachEdge_RetriedHoursLater_IsFetchedFromTheNewEdge_InsteadOfFailingForEver()
    {
        // Attempt 1 pins the backfill's start at the edge of Yahoo's 730 days and fails (Yahoo answers 404); the next
        // deliveries come two hours later, when the pinned start is older than Yahoo serves.
        var unknown = new HashSet<string>(StringComparer.Ordinal) { "AAPL" };
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions { UnknownSymbols = unknown });
        var job = await stack.CreateJobAsync("AAPL", provider: "yahoo");
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(TimeProvider.System.GetUtcNow().ToUnixTimeSeconds()));
        await using var pipeline = await stack.StartPipelineAsync(
            (_, services) => services.AddSingleton<TimeProvider>(clock),
            o => o with { YahooBaseUrl = yahoo.BaseUrl }); // the fixture's retry policy: redeliveries 2, 4, 8 and 16 s apart
        var driver = new PipelineDriver(stack, pipeline);
        var now = clock.GetUtcNow();
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, new TimeWindow(now.AddDays(-800), now.AddDays(-725)));

        await driver.PublishStartAsync(start);
        var pinned = await WaitForBronzeAsync(driver, start.ExecutionId, "FAILED", "bronze attempt 1 FAILED");
        clock.Advance(TimeSpan.FromHours(2));
        unknown.Clear();

        var bronze = await WaitForBronzeAsync(driver, start.ExecutionId, "SUCCESS", "bronze SUCCESS on a later attempt");
        Assert.True(bronze.Attempt >= 2);
        Assert.Equal((pinned.StartTime, pinned.EndTime), (bronze.StartTime, bronze.EndTime)); // the window stays pinned
        var completion = StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes(bronze.CompletionJson!), Stage.Bronze);
        Assert.Equal(1, completion.Metrics["window_clamped"]);
        Assert.Empty(completion.FailedTickers);
        var bars = await ReadBronzeAsync(pipeline, job.BucketName, bronze);
        Assert.NotEmpty(bars);
        Assert.All(bars, b => Assert.True(b.Bar.Timestamp >= clock.GetUtcNow().AddDays(-730), $"bar {b.Bar.Timestamp:O} is older than Yahoo serves"));
    }

    [Fact]
    public async Task AStartWindowExtractCanNeverRun_IsRejectedBeforeTheClaim_NamingItsEnd()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var day = new DateTimeOffset(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);
        var cases = new (StartMessage Start, string Reason)[]
        {
            // The ledger stored -infinity, then "all tickers failed … un-representable DateTime", 500 until dead-lettered.
            (Start(new TimeWindow(DateTimeOffset.MinValue, new DateTimeOffset(9999, 12, 31, 23, 59, 59, TimeSpan.Zero))), "one Extract run holds at most 250,000"),
            // 26 years of the synthetic provider's hours for three tickers: far more rows than Extract's 512 MiB hold.
            (Start(new TimeWindow(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))), "fp backfill --window-days"),
            // 100 ns: the parser compared at 100 ns, the ledger keeps microseconds, so the claim failed on every delivery.
            (Start(new TimeWindow(day, day.AddTicks(1))), "finer than a microsecond"),
        };

        foreach (var (start, _) in cases)
        {
            await driver.PublishStartAsync(start);
        }

        var rejections = new RejectedMessageStore(stack.DataSource);
        foreach (var (start, reason) in cases)
        {
            var rejection = await Eventually.WaitAsync(
                async () => (await rejections.ListByExecutionAsync(start.ExecutionId, CancellationToken.None)).SingleOrDefault(),
                PipelineDriver.RunTimeout,
                $"the rejection of {start.Window}");
            Assert.Equal(("extract", "window.end"), (rejection.FunctionName, rejection.Field));
            Assert.Contains(reason, rejection.Reason, StringComparison.Ordinal);
            Assert.Empty(await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None));
        }

        Assert.False(Directory.Exists(Path.Combine(pipeline.Settings.BucketsRoot, job.BucketName)), "a rejected window wrote bronze");

        StartMessage Start(TimeWindow window) => new(Guid.NewGuid(), job.JobName, null, window);
    }

    /// <summary>The execution's bronze row once it has <paramref name="status"/>.</summary>
    private static Task<ControlDb.ExecutionRow> WaitForBronzeAsync(PipelineDriver driver, Guid executionId, string status, string what) =>
        Eventually.WaitAsync(
            async () => await driver.Ledger.GetAsync(executionId, Stage.Bronze, CancellationToken.None) is { } row && row.Status == status ? row : null,
            PipelineDriver.RunTimeout,
            what);

    /// <summary>One execution of a new yahoo job over <paramref name="tickers"/>, run to gold; disposing the result stops the pipeline.</summary>
    private async Task<YahooRun> RunYahooJobAsync(LocalYahooServer yahoo, string tickers, CapturingLoggerProvider? logs = null)
    {
        var job = await stack.CreateJobAsync(tickers, lookbackSeconds: 5 * 86400, provider: "yahoo");
        var pipeline = await stack.StartPipelineAsync(
            (_, services) =>
            {
                if (logs is not null)
                {
                    services.AddLogging(l => l.AddProvider(logs));
                }
            },
            o => o with { YahooBaseUrl = yahoo.BaseUrl, FunctionLogLevel = logs is null ? o.FunctionLogLevel : LogLevel.Information });
        try
        {
            var driver = new PipelineDriver(stack, pipeline);
            var start = new StartMessage(Guid.NewGuid(), job.JobName, TimeProvider.System.GetUtcNow(), null);
            await driver.PublishStartAsync(start);
            await driver.WaitForGoldSuccessAsync(start.ExecutionId);
            var bronze = (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None))!;
            return new YahooRun(pipeline, job, bronze, StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes(bronze.CompletionJson!), Stage.Bronze));
        }
        catch
        {
            await pipeline.DisposeAsync();
            throw;
        }
    }

    private sealed record YahooRun(LocalPipeline Pipeline, Core.Jobs.JobConfig Job, ControlDb.ExecutionRow Bronze, StageCompletedMessage Completion) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Pipeline.DisposeAsync();
    }

    private static async Task<List<BarRecord>> ReadBronzeAsync(LocalPipeline pipeline, string bucket, ControlDb.ExecutionRow row)
    {
        var path = Path.Combine(pipeline.Settings.BucketsRoot, bucket, ObjectLayout.BronzeObject(row.EndTime!.Value, row.ExecutionId));
        await using var stream = File.OpenRead(path);
        return await BarParquet.ReadAsync(stream);
    }
}
