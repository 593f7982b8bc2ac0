using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Providers.Yahoo;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Providers.Tests;

public class YahooLimitsTests
{
    private static readonly DateTimeOffset Now = Fixtures.At("2025-06-02T12:00:00Z");
    private readonly FakeTimeProvider _clock = new(Now);

    [Theory]
    [InlineData(1, "1m")]
    [InlineData(2, "2m")]
    [InlineData(5, "5m")]
    [InlineData(15, "15m")]
    [InlineData(30, "30m")]
    [InlineData(60, "1h")]
    [InlineData(90, "90m")]
    [InlineData(1440, "1d")]
    [InlineData(7200, "5d")]
    [InlineData(10080, "1wk")]
    public void Interval_MapsBarSizeToYahooInterval(int minutes, string interval)
    {
        Assert.Equal(interval, YahooLimits.Interval(TimeSpan.FromMinutes(minutes)));
    }

    [Fact]
    public void Interval_UnsupportedBarSize_ThrowsListingSupportedOnes()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => YahooLimits.Interval(TimeSpan.FromMinutes(7)));

        Assert.Contains("1h", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 7)]
    [InlineData(5, 60)]
    [InlineData(15, 60)]
    [InlineData(90, 60)]
    [InlineData(60, 730)]
    public void MaxLookback_IntradayBarSizes(int minutes, int days)
    {
        Assert.Equal(TimeSpan.FromDays(days), YahooLimits.MaxLookback(TimeSpan.FromMinutes(minutes)));
    }

    [Fact]
    public void MaxLookback_DailyIsUnlimited()
    {
        Assert.Null(YahooLimits.MaxLookback(TimeSpan.FromDays(1)));
        Assert.Null(YahooLimits.MaxLookback(TimeSpan.FromDays(7)));
    }

    [Theory]
    [InlineData(60, 700)]
    [InlineData(60, 61)]
    [InlineData(15, 59)]
    [InlineData(1, 6)]
    [InlineData(1440, 20 * 365)]
    public void Chunk_CoversTheWindowWithoutGapOrOverlap(int barMinutes, int days)
    {
        var barSize = TimeSpan.FromMinutes(barMinutes);
        var window = new TimeWindow(Now - TimeSpan.FromDays(days), Now + TimeSpan.FromHours(3));

        var chunks = YahooLimits.Chunk(window, barSize, _clock);

        Assert.Equal(window.Start, chunks[0].Start);
        Assert.Equal(window.End, chunks[^1].End);
        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.Equal(chunks[i - 1].End, chunks[i].Start);
        }

        Assert.All(chunks, c => Assert.True(c.Duration <= YahooLimits.MaxRequestSpan(barSize), $"{c} is longer than a request may span"));
        Assert.Equal(window.Duration, chunks.Aggregate(TimeSpan.Zero, (sum, c) => sum + c.Duration));
        Assert.True(chunks.Count > 1 || window.Duration <= YahooLimits.MaxRequestSpan(barSize));
    }

    [Fact]
    public void Chunk_ShortWindow_IsOneRequest()
    {
        var window = new TimeWindow(Now - TimeSpan.FromHours(2), Now);

        var chunk = Assert.Single(YahooLimits.Chunk(window, TimeSpan.FromHours(1), _clock));

        Assert.Equal(window, chunk);
    }

    [Fact]
    public void Chunk_730DayHourlyBackfill_SplitsInto60DayRequests()
    {
        var window = new TimeWindow(Now - TimeSpan.FromDays(730), Now);

        var chunks = YahooLimits.Chunk(window, TimeSpan.FromHours(1), _clock);

        Assert.Equal(13, chunks.Count);
        Assert.All(chunks.SkipLast(1), c => Assert.Equal(TimeSpan.FromDays(60), c.Duration));
    }

    [Theory]
    [InlineData(60, 731)]
    [InlineData(15, 61)]
    [InlineData(1, 8)]
    public void Chunk_WindowOlderThanYahooServes_ThrowsNamingTheWindow(int barMinutes, int daysAgo)
    {
        var window = new TimeWindow(Now - TimeSpan.FromDays(daysAgo), Now - TimeSpan.FromDays(daysAgo - 1));

        var ex = Assert.Throws<ArgumentException>(() => YahooLimits.Chunk(window, TimeSpan.FromMinutes(barMinutes), _clock));

        Assert.Contains(window.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Contains(YahooLimits.Interval(TimeSpan.FromMinutes(barMinutes)), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Chunk_LimitIsRelativeToTheInjectedClock()
    {
        var window = new TimeWindow(Now - TimeSpan.FromDays(700), Now - TimeSpan.FromDays(699));
        Assert.NotEmpty(YahooLimits.Chunk(window, TimeSpan.FromHours(1), _clock));

        _clock.Advance(TimeSpan.FromDays(40));

        Assert.Throws<ArgumentException>(() => YahooLimits.Chunk(window, TimeSpan.FromHours(1), _clock));
    }
}
