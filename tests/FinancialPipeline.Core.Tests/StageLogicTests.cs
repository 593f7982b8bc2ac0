using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Stages.Work;

namespace FinancialPipeline.Core.Tests;

public sealed class StageLogicTests
{
    private static readonly JobConfig Job = JobConfig.Create("job", "AAPL,MSFT", 3600, 10800, "fp-bronze", "fp-silver", "synthetic", "1h", 86400 * 3, true);

    [Theory]
    [InlineData("", "provider='' is required: one of synthetic, yahoo")]
    [InlineData("   ", "provider='   ' is required: one of synthetic, yahoo")]
    [InlineData(null, "provider='' is required: one of synthetic, yahoo")]
    [InlineData("yahooo", "provider='yahooo' is not a provider: one of synthetic, yahoo")]
    [InlineData("bloomberg", "provider='bloomberg' is not a provider: one of synthetic, yahoo")]
    public void AProviderThatIsBlankOrUnknown_BreaksTheRow_NeverDefaultingToSynthetic(string? provider, string expected)
    {
        var ex = Assert.Throws<JobConfigException>(() => JobConfig.Create("job", "AAPL", 3600, 10800, "fp-bronze", "fp-silver", provider, "1h", 86400, true));
        Assert.Equal("provider", ex.Column);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal("yahoo", JobConfig.Create("job", "AAPL", 3600, 10800, "fp-bronze", "fp-silver", " Yahoo ", "1h", 86400, true).Provider);
    }

    [Fact]
    public void ExtractsTransientFailure_NamesAtMostFiveTickersWithShortenedErrors_AndIgnoresPermanentOnes()
    {
        var results = Enumerable.Range(1, 8).Select(i => TickerQuotes.TransientFailure($"T{i}", $"HTTP 503 #{i}"))
            .Append(TickerQuotes.TransientFailure("LONG", new string('x', 1000)))
            .Append(TickerQuotes.PermanentFailure("NOPE", "unknown or delisted: NOPE"))
            .Append(new TickerQuotes("AAPL", []))
            .ToList();

        var message = ExtractWork.TransientFailure(results, 50);

        Assert.Equal(
            $"9 of 50 tickers failed transiently (LONG: {new string('x', 200)}…; T1: HTTP 503 #1; T2: HTTP 503 #2; T3: HTTP 503 #3; T4: HTTP 503 #4; and 4 more); failing so Pub/Sub retries the window",
            message);
        Assert.Null(ExtractWork.TransientFailure(results.Where(r => !r.Transient).ToList(), 50));
    }

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
}
