using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Stages.Work;

namespace FinancialPipeline.Core.Tests;

public sealed class StageLogicTests
{
    private static readonly JobConfig Job = JobConfig.Create("job", "AAPL,MSFT", 3600, 10800, "fp-bronze", "fp-silver", "synthetic", "1h", 86400 * 3, true);

    [Fact]
    public async Task SyntheticProvider_IsDeterministic_AcrossOverlappingWindows()
    {
        var provider = new SyntheticQuoteProvider();
        var t0 = new DateTimeOffset(2026, 11, 16, 0, 0, 0, TimeSpan.Zero); // a Monday
        var a = await provider.FetchAsync("AAPL", new TimeWindow(t0, t0.AddDays(3)), TimeSpan.FromHours(1), CancellationToken.None);
        var b = await provider.FetchAsync("AAPL", new TimeWindow(t0.AddDays(2), t0.AddDays(5)), TimeSpan.FromHours(1), CancellationToken.None);

        var overlap = a.Bars.Where(x => x.Timestamp >= t0.AddDays(2)).ToList();
        Assert.NotEmpty(overlap);
        Assert.Equal(overlap, b.Bars.Where(x => x.Timestamp < t0.AddDays(3)));
        Assert.All(a.Bars, bar =>
        {
            Assert.Equal(30, bar.Timestamp.Minute); // US hourly bars start at :30
            Assert.InRange(bar.Low, 0.01, Math.Min(bar.Open, bar.Close));
            Assert.True(bar.High >= Math.Max(bar.Open, bar.Close));
            Assert.True(bar.Volume > 0);
        });
        Assert.Equal(7 * 3, a.Bars.Count); // 7 hourly bars per regular session
    }

    [Fact]
    public async Task SyntheticProvider_HasNoWeekendBars()
    {
        var saturday = new DateTimeOffset(2026, 11, 21, 0, 0, 0, TimeSpan.Zero);
        var result = await new SyntheticQuoteProvider().FetchAsync("MSFT", new TimeWindow(saturday, saturday.AddDays(2)), TimeSpan.FromHours(1), CancellationToken.None);
        Assert.Empty(result.Bars);
    }

    [Fact]
    public void ConsecutiveIncrementalWindows_OverlapByTheConfiguredOverlap_AndNeverLeaveAGap()
    {
        var now = new DateTimeOffset(2026, 11, 23, 20, 5, 17, TimeSpan.Zero);
        var first = ExtractWindows.Incremental(Job, null, now, null).Window;
        Assert.Equal(Job.Lookback, first.Duration);
        Assert.True(first.End <= now - Job.BarSize, "the live bar must not be fetched");
        var previous = first;
        for (var hour = 1; hour <= 48; hour++)
        {
            var next = ExtractWindows.Incremental(Job, previous, now.AddHours(hour), null).Window;
            Assert.Equal(previous.End - Job.Overlap, next.Start);
            Assert.True(next.End > previous.End);
            previous = next;
        }
    }

    [Fact]
    public void SilverRules_NameEachFailure_AndPassTheBoundaryCases()
    {
        var now = new DateTimeOffset(2026, 11, 23, 21, 0, 0, TimeSpan.Zero);
        var t = new DateTimeOffset(2026, 11, 23, 14, 30, 0, TimeSpan.Zero);
        BarRecord Row(string ticker = "AAPL", DateTimeOffset? at = null, double o = 10, double h = 11, double l = 9, double c = 10, long v = 100) =>
            new(new QuoteBar(at ?? t, ticker, o, h, l, c, null, v), Guid.NewGuid(), now, "synthetic");

        var cases = new (BarRecord Row, string? Rule)[]
        {
            (Row(o: 9, h: 9, l: 9, c: 9, v: 0), null),
            (Row(at: t.AddHours(-1), o: 0.0001, l: 0.0001), null),
            (Row(at: t.AddHours(-2), o: 0), SilverRules.PricePositive),
            (Row(at: t.AddHours(-3), h: 9.99), SilverRules.HighLowBounds),
            (Row(at: t.AddHours(-4), v: -1), SilverRules.VolumeNonNegative),
            (Row(at: t.AddMinutes(-1)), SilverRules.TimestampAligned),
            (Row(at: now.AddMinutes(-30)), SilverRules.NotInFuture),
            (Row(ticker: "TSLA"), SilverRules.TickerInJob),
            (Row(), SilverRules.DuplicateInBatch),
        };

        var result = SilverRules.Validate(cases.Select(c => c.Row), Job, now, Guid.NewGuid());

        Assert.Equal(2, result.Valid.Count);
        Assert.Equal(cases.Where(c => c.Rule is not null).Select(c => c.Rule), result.Rejected.Select(r => r.Rule));
    }

    [Fact]
    public void SilverMerge_KeepsEachBarOnce_WithTheNewestIngestion()
    {
        var t = new DateTimeOffset(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
        var old = new BarRecord(new QuoteBar(t, "AAPL", 10, 11, 9, 10, null, 100), Guid.NewGuid(), t.AddHours(2), "synthetic");
        var corrected = old with { Bar = old.Bar with { Close = 10.5 }, IngestedAt = t.AddHours(5), ExecutionId = Guid.NewGuid() };
        var other = old with { Bar = old.Bar with { Timestamp = t.AddHours(1) } };

        var merged = SilverRules.Merge([old, other], [corrected]);

        Assert.Equal(2, merged.Count);
        Assert.Equal(10.5, merged.Single(r => r.Bar.Timestamp == t).Bar.Close);
        Assert.Equal(merged, SilverRules.Merge(merged, [corrected]));
    }
}
