using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Stages.Work;

namespace FinancialPipeline.Core.Tests;

public sealed class ExtractWindowTests
{
    private static readonly TimeSpan YahooHourlyReach = TimeSpan.FromDays(730);

    [Fact]
    public void ALongIncrementalGap_IsFetchedInRunsOfAtMostMaxWindowRows_EachContinuingTheLast_UntilCaughtUp()
    {
        // 100 tickers of 1m bars, 10 days behind (a long outage): 1.44 M rows in one window, far beyond one run.
        var job = JobConfig.Create("job", string.Join(',', Enumerable.Range(0, 100).Select(i => $"T{i}")), 3600, 3600, "fp-bronze", null, "synthetic", "1m", null, true);
        var now = new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
        var last = new TimeWindow(now.AddDays(-11), now.AddDays(-10));
        var runs = 0;
        ExtractWindowPlan plan;
        do
        {
            plan = ExtractWindows.Incremental(job, last, now, providerReach: null);
            Assert.Equal(last.End - job.Overlap, plan.Window.Start); // continues the chain, overlap included
            Assert.True(plan.Window.Duration.Ticks / job.BarSize.Ticks * job.Tickers.Count <= ExtractWindows.MaxWindowRows, plan.Note);
            last = plan.Window;
            runs++;
        }
        while (plan.Window.End < ExtractWindows.CompletedEnd(job.BarSize, now) && runs < 100);

        Assert.Equal(ExtractWindows.CompletedEnd(job.BarSize, now), plan.Window.End);
        Assert.InRange(runs, 6, 8); // 10 days of 2,500-minute windows, less an hour of overlap each
        Assert.Null(plan.Note); // the last one is whole
        Assert.Contains("the next runs continue from there", ExtractWindows.Incremental(job, new TimeWindow(now.AddDays(-11), now.AddDays(-10)), now, null).Note, StringComparison.Ordinal);
    }

    [Fact]
    public void AJobWhoseSteadyWindowIsAlreadyTooLarge_RunsItsIncrementalWindowWhole_RatherThanNeverAdvancing()
    {
        // 5,000 tickers of 1m bars with an hour's overlap: 50 minutes fit, less than overlap + a bar.
        var job = JobConfig.Create("job", string.Join(',', Enumerable.Range(0, 5000).Select(i => $"T{i}")), 3600, 3600, "fp-bronze", null, "synthetic", "1m", null, true);
        var now = new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
        var last = new TimeWindow(now.AddHours(-3), now.AddHours(-1));

        var plan = ExtractWindows.Incremental(job, last, now, providerReach: null);

        Assert.Equal(new TimeWindow(last.End - job.Overlap, ExtractWindows.CompletedEnd(job.BarSize, now)), plan.Window);
    }

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

    [Fact]
    public void AWindowPinnedAtTheReachEdge_AndFetchedAgainLater_IsFetchedFromTheNewEdge_OrFailsOnceWhollyAgedOut()
    {
        // A backfill clamped to Yahoo's reach and pinned; its first attempt failed (Yahoo down), and the retry (or a
        // replay) comes two hours later, when the pinned start is older than Yahoo serves.
        var pinnedAt = new DateTimeOffset(2026, 11, 23, 20, 5, 0, TimeSpan.Zero);
        var job = Job(provider: "yahoo");
        var pinned = ExtractWindows.Backfill(job, new TimeWindow(pinnedAt.AddDays(-800), pinnedAt.AddDays(-700)), pinnedAt, YahooHourlyReach).Window;
        Assert.Equal((pinned, (string?)null), ExtractWindows.WithinReach(job, pinned, pinnedAt, YahooHourlyReach));

        var later = pinnedAt.AddHours(2);
        var (fetch, note) = ExtractWindows.WithinReach(job, pinned, later, YahooHourlyReach);

        Assert.Equal(pinned.End, fetch.End);
        Assert.True(fetch.Start >= later - YahooHourlyReach, $"{fetch.Start:O} is still older than Yahoo serves at {later:O}");
        Assert.True(fetch.Start > pinned.Start);
        Assert.Contains("is now older than provider yahoo serves 1h bars", note, StringComparison.Ordinal);
        Assert.Equal((pinned, (string?)null), ExtractWindows.WithinReach(job, pinned, later, providerReach: null));

        var aged = Assert.Throws<InvalidOperationException>(() => ExtractWindows.WithinReach(job, pinned, pinnedAt.AddDays(101), YahooHourlyReach));
        Assert.Contains("is now wholly older than provider yahoo serves 1h bars", aged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Backfill_FromAProviderWithoutAReach_StartsNoEarlierThanTheUnixEpoch()
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 5, 0, TimeSpan.Zero);
        var plan = ExtractWindows.Backfill(Job(), new TimeWindow(new DateTimeOffset(1960, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(1970, 1, 8, 0, 0, 0, TimeSpan.Zero)), now, providerReach: null);

        Assert.Equal(new TimeWindow(DateTimeOffset.UnixEpoch, new DateTimeOffset(1970, 1, 8, 0, 0, 0, TimeSpan.Zero)), plan.Window);
        Assert.Contains("moved to 1970-01-01T00:00:00Z", plan.Note, StringComparison.Ordinal);
        var before = Assert.Throws<MessageRejectedException>(() => ExtractWindows.Backfill(Job(), new TimeWindow(new DateTimeOffset(1960, 1, 1, 0, 0, 0, TimeSpan.Zero), DateTimeOffset.UnixEpoch), now, providerReach: null));
        Assert.Equal("window.end", before.Field);
    }

    [Theory]
    [InlineData("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")] // stored as -infinity, then "un-representable DateTime"
    [InlineData("1800-01-01T00:00:00Z", "2026-01-01T00:00:00Z")] // 3.97 M rows, 2.9 GB for a 512 MiB function
    [InlineData("2000-01-01T00:00:00Z", "2026-01-01T00:00:00Z")]
    public void Backfill_HoldingMoreBarsThanOneExtractRunTakes_IsRejectedNamingTheEnd(string start, string end)
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 5, 0, TimeSpan.Zero);
        var requested = new TimeWindow(At(start), At(end));

        var ex = Assert.Throws<MessageRejectedException>(() => ExtractWindows.Backfill(Job(), requested, now, providerReach: null));

        Assert.Equal("window.end", ex.Field);
        Assert.Contains("one Extract run holds at most 250,000", ex.Reason, StringComparison.Ordinal);
        Assert.Contains("fp backfill --window-days 5208)", ex.Reason, StringComparison.Ordinal); // 2 tickers × 24 bars a day
    }

    [Fact]
    public void Backfill_UpToMaxWindowRows_Runs_AndOneBarMoreIsRejected()
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 5, 0, TimeSpan.Zero);
        var start = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var fits = new TimeWindow(start, start.AddHours(ExtractWindows.MaxWindowRows / 2)); // 2 tickers

        Assert.Equal(fits, ExtractWindows.Backfill(Job(), fits, now, providerReach: null).Window);
        var ex = Assert.Throws<MessageRejectedException>(() => ExtractWindows.Backfill(Job(), new TimeWindow(start, fits.End.AddMinutes(1)), now, providerReach: null));
        Assert.Contains($"end it by {fits.End:yyyy-MM-dd'T'HH:mm:ss'Z'}", ex.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2026-11-20T14:30:00Z", "2026-11-20T14:30:00.0000001Z", "finer than a microsecond")] // passed the parser; the ledger kept an empty window
    [InlineData("2026-11-20T14:30:00Z", "2026-11-20T14:30:00.000001Z", "less than one 1h bar")]
    [InlineData("2026-11-20T14:30:00Z", "2026-11-20T15:29:59Z", "less than one 1h bar")]
    public void Backfill_ShorterThanABarOrFinerThanTheLedger_IsRejectedNamingTheEnd(string start, string end, string reason)
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 5, 0, TimeSpan.Zero);

        var ex = Assert.Throws<MessageRejectedException>(() => ExtractWindows.Backfill(Job(), new TimeWindow(At(start), At(end)), now, providerReach: null));

        Assert.Equal("window.end", ex.Field);
        Assert.Contains(reason, ex.Reason, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromHours(1), ExtractWindows.Backfill(Job(), new TimeWindow(At(start), At(start).AddHours(1)), now, providerReach: null).Window.Duration);
    }

    [Fact]
    public void BackfillSplit_KeepsEachWindowWithinWhatExtractTakes_OrRefusesWhenADayIsTooMuch()
    {
        var from = new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
        var tickers = string.Join(',', Enumerable.Range(0, 20).Select(i => $"T{i}"));
        var minuteJob = JobConfig.Create("job", tickers, 3600, 60, "fp-bronze", null, "synthetic", "1m", null, true);

        var windows = Stages.Operations.Backfill.Split(minuteJob, new SyntheticQuoteProvider(), from, from.AddDays(30), windowDays: 30);

        Assert.Equal(8, ExtractWindows.MaxWindowDays(minuteJob)); // 250,000 / (1,440 bars × 20 tickers)
        Assert.All(windows, w => Assert.True(w.Duration <= TimeSpan.FromDays(8), w.ToString()));
        Assert.All(windows, w => ExtractWindows.Backfill(minuteJob, w, from.AddDays(60), providerReach: null));
        var crowded = JobConfig.Create("job", string.Join(',', Enumerable.Range(0, 200).Select(i => $"T{i}")), 3600, 60, "fp-bronze", null, "synthetic", "1m", null, true);
        Assert.Contains("one day of 1m bars of 200 tickers", Assert.Throws<ArgumentException>(() => Stages.Operations.Backfill.Split(crowded, new SyntheticQuoteProvider(), from, from.AddDays(2), 1)).Message, StringComparison.Ordinal);
    }

    private static DateTimeOffset At(string rfc3339) =>
        DateTimeOffset.Parse(rfc3339, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal);

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
