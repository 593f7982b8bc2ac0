using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Stages.Work;

namespace FinancialPipeline.Core.Tests;

public sealed class ExtractWindowTests
{
    private static readonly TimeSpan YahooHourlyReach = TimeSpan.FromDays(730);

    private static JobConfig Job(int overlapSeconds = 10800, int lookbackSeconds = 3 * 86400, string provider = "synthetic") =>
        JobConfig.Create("job", "AAPL,MSFT", 3600, overlapSeconds, "fp-bronze", "fp-silver", provider, "1h", lookbackSeconds, true);

    public static TheoryData<string, string> Schedules => new()
    {
        // (first run, label): hourly runs at :05 for 10 days from there, with some runs missed.
        { "2026-03-05T19:05:00Z", "across the start of US DST (2026-03-08) and a weekend" },
        { "2026-10-29T18:05:00Z", "across the end of US DST (2026-11-01) and a weekend" },
        { "2026-11-20T20:05:00Z", "from a Friday afternoon over the weekend" },
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public async Task ConsecutiveWindows_ShareExactlyTheOverlap_AndTogetherFetchEveryBarOnceOrInTheOverlap(string firstRun, string label)
    {
        _ = label;
        var job = Job();
        var provider = new SyntheticQuoteProvider();
        var now = DateTimeOffset.Parse(firstRun, System.Globalization.CultureInfo.InvariantCulture);
        var windows = new List<TimeWindow> { ExtractWindows.Incremental(job, null, now, null).Window };
        for (var run = 1; run < 240; run++)
        {
            if (run % 17 == 0 || run % 29 == 0)
            {
                continue; // Airflow missed this hour: the next run must still start where the last success ended.
            }

            windows.Add(ExtractWindows.Incremental(job, windows[^1], now.AddHours(run), null).Window);
        }

        var all = new HashSet<QuoteBar>();
        var everything = await provider.FetchAsync("AAPL", new TimeWindow(windows[0].Start, windows[^1].End), job.BarSize, CancellationToken.None);
        for (var i = 0; i < windows.Count; i++)
        {
            var bars = (await provider.FetchAsync("AAPL", windows[i], job.BarSize, CancellationToken.None)).Bars;
            all.UnionWith(bars);
            if (i == 0)
            {
                continue;
            }

            Assert.Equal(windows[i - 1].End - job.Overlap, windows[i].Start);
            var previous = (await provider.FetchAsync("AAPL", windows[i - 1], job.BarSize, CancellationToken.None)).Bars;
            var shared = previous.Intersect(bars).ToList();
            var expected = previous.Where(b => b.Timestamp >= windows[i - 1].End - job.Overlap).ToList();
            Assert.Equal(expected, shared);
        }

        Assert.NotEmpty(everything.Bars);
        Assert.Equal(everything.Bars.ToHashSet(), all); // no gap: every bar of the whole span was fetched by some run
    }

    [Fact]
    public async Task TheLiveBarIsNeverFetched_AndTheDefaultOverlapRefetchesThreeHourlyBars()
    {
        var job = JobConfig.Create("job", "AAPL", 3600, null, "fp-bronze", null, "synthetic", null, null, true);
        Assert.Equal(3 * 3600, job.OverlapSeconds);
        var now = new DateTimeOffset(2026, 11, 18, 20, 35, 42, TimeSpan.Zero); // 15:35 New York: the 15:30 bar is live
        var window = ExtractWindows.Incremental(job, null, now, null).Window;
        Assert.Equal(new DateTimeOffset(2026, 11, 18, 19, 35, 0, TimeSpan.Zero), window.End);
        Assert.True(window.End <= now - job.BarSize);

        var next = ExtractWindows.Incremental(job, window, now.AddHours(1), null).Window;
        var refetched = (await new SyntheticQuoteProvider().FetchAsync("AAPL", new TimeWindow(next.Start, window.End), job.BarSize, CancellationToken.None)).Bars;
        Assert.Equal(3, refetched.Count); // 16:30, 17:30, 18:30 UTC
    }

    [Fact]
    public void RunsCloserThanTheOverlap_StillRefetchTheLastCompletedBar()
    {
        var job = Job();
        var now = new DateTimeOffset(2026, 11, 18, 20, 5, 0, TimeSpan.Zero);
        var last = new TimeWindow(now.AddDays(-1), now.AddHours(3)); // a clock that went back: nothing new to fetch
        var window = ExtractWindows.Incremental(job, last, now, null).Window;
        Assert.Equal(job.BarSize, window.Duration);
        Assert.Equal(ExtractWindows.CompletedEnd(job.BarSize, now), window.End);
    }

    [Fact]
    public void FirstRun_LookbackIsClampedToWhatTheProviderServes_WithAMessage()
    {
        var job = Job(lookbackSeconds: 730 * 86400, provider: "yahoo");
        var now = new DateTimeOffset(2026, 11, 18, 20, 5, 0, TimeSpan.Zero);
        var plan = ExtractWindows.Incremental(job, null, now, YahooHourlyReach);
        Assert.True(plan.Window.Start >= now - YahooHourlyReach);
        Assert.Contains("730 days", plan.Note, StringComparison.Ordinal);
        Assert.Contains("lookback_seconds", plan.Note, StringComparison.Ordinal);

        var unclamped = ExtractWindows.Incremental(Job(), null, now, YahooHourlyReach);
        Assert.Null(unclamped.Note);
        Assert.Equal(Job().Lookback, unclamped.Window.Duration);
    }

    [Fact]
    public void Backfill_IsHonouredExactly_WhenTheProviderServesIt()
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 5, 0, TimeSpan.Zero);
        var requested = new TimeWindow(new DateTimeOffset(2026, 11, 2, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 12, 0, 0, 0, TimeSpan.Zero));
        var plan = ExtractWindows.Backfill(Job(provider: "yahoo"), requested, now, YahooHourlyReach);
        Assert.Equal(requested, plan.Window);
        Assert.Null(plan.Note);
    }

    [Fact]
    public void Backfill_IsClampedToCompletedBarsAndTheProvidersReach_OrRefusedWhenNothingIsLeft()
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 5, 0, TimeSpan.Zero);
        var job = Job(provider: "yahoo");
        var tooWide = new TimeWindow(now.AddDays(-800), now.AddDays(1));
        var plan = ExtractWindows.Backfill(job, tooWide, now, YahooHourlyReach);
        Assert.True(plan.Window.Start >= now - YahooHourlyReach);
        Assert.Equal(ExtractWindows.CompletedEnd(job.BarSize, now), plan.Window.End);
        Assert.Contains("start", plan.Note, StringComparison.Ordinal);
        Assert.Contains("not completed", plan.Note, StringComparison.Ordinal);

        var tooOld = Assert.Throws<MessageRejectedException>(() => ExtractWindows.Backfill(job, new TimeWindow(now.AddDays(-900), now.AddDays(-800)), now, YahooHourlyReach));
        Assert.Equal("window.end", tooOld.Field);
        var future = Assert.Throws<MessageRejectedException>(() => ExtractWindows.Backfill(job, new TimeWindow(now.AddHours(-1), now.AddDays(1)), now, YahooHourlyReach));
        Assert.Equal("window.start", future.Field);
    }

    [Theory]
    [InlineData("AAPL,MSFT", 3600, 180, "fp-bronze", "overlap")] // the seed's 180 s re-fetched no hourly bar
    [InlineData("AAPL,MSFT", 3600, 0, "fp-bronze", "overlap")]
    [InlineData("AAPL,MSFT", 3600, 40 * 86400, "fp-bronze", "overlap")]
    [InlineData("AAPL,MSFT", 0, 10800, "fp-bronze", "interval")]
    [InlineData("AAPL,MS FT!", 3600, 10800, "fp-bronze", "tickers")]
    [InlineData("AAPL,ABCDEFGHIJKLMNOPQRSTU", 3600, 10800, "fp-bronze", "tickers")]
    [InlineData("", 3600, 10800, "fp-bronze", "tickers")]
    [InlineData("AAPL", 3600, 10800, "FP_Bronze", "bucket_name")]
    [InlineData("AAPL", 3600, 10800, "googbucket", "bucket_name")]
    [InlineData("AAPL", 3600, 10800, "a..b", "bucket_name")]
    public void BadConfig_FailsNamingTheColumnAndValue(string tickers, int interval, int overlap, string bucket, string column)
    {
        var ex = Assert.Throws<JobConfigException>(() => JobConfig.Create("job", tickers, interval, overlap, bucket, null, "synthetic", "1h", null, true));
        Assert.Equal(column, ex.Column);
        Assert.Contains(column + "=", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("^GSPC,BRK-B,BRK.B,EURUSD=X,9984.T")]
    public void RealTickerShapes_AreAccepted(string tickers) =>
        Assert.Equal(5, JobConfig.Create("job", tickers, 3600, 3600, "fp-bronze", null, "synthetic", "1h", null, true).Tickers.Count);
}
