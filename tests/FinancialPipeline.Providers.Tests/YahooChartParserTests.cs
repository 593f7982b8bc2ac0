using System.Text;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Providers.Yahoo;

namespace FinancialPipeline.Providers.Tests;

public class YahooChartParserTests
{
    [Fact]
    public void HourlyResponse_WithoutAdjClose_YieldsUtcBarsWithNullAdjClose()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("hourly-no-adjclose.json"), "MSFT", Fixtures.Monday);

        Assert.Null(quotes.Error);
        Assert.Equal(0, quotes.DroppedBars);
        Assert.Equal(7, quotes.Bars.Count);
        var first = quotes.Bars[0];
        Assert.Equal(Fixtures.At("2024-03-04T14:30:00Z"), first.Timestamp);
        Assert.Equal(TimeSpan.Zero, first.Timestamp.Offset);
        Assert.Equal(("MSFT", 412.10, 413.60, 411.20, 413.02, 4210553L), (first.Ticker, first.Open, first.High, first.Low, first.Close, first.Volume));
        Assert.All(quotes.Bars, bar => Assert.Null(bar.AdjClose));
        Assert.Equal(Fixtures.At("2024-03-04T20:30:00Z"), quotes.Bars[^1].Timestamp);
    }

    [Fact]
    public void NullInAnyOhlcvArray_DropsThatBarAndCountsIt()
    {
        // Index 2 is null everywhere; index 5 only in volume.
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("hourly-with-nulls.json"), "MSFT", Fixtures.Monday);

        Assert.Null(quotes.Error);
        Assert.Equal(2, quotes.DroppedBars);
        Assert.Equal(
            new[] { "14:30", "15:30", "17:30", "18:30", "20:30" },
            quotes.Bars.Select(b => b.Timestamp.ToString("HH:mm", System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Weekend_WithoutTimestampKeyAndEmptyQuote_IsZeroBarsNotAnError()
    {
        var weekend = new TimeWindow(Fixtures.At("2024-03-09T00:00:00Z"), Fixtures.At("2024-03-11T00:00:00Z"));

        var quotes = YahooChartParser.Parse(Fixtures.Bytes("weekend-no-timestamp.json"), "MSFT", weekend);

        Assert.False(quotes.Failed);
        Assert.Empty(quotes.Bars);
        Assert.Equal(0, quotes.DroppedBars);
    }

    [Fact]
    public void EmptyResultArray_IsZeroBarsNotAnError()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("empty-result.json"), "MSFT", Fixtures.Monday);

        Assert.False(quotes.Failed);
        Assert.Empty(quotes.Bars);
    }

    [Fact]
    public void BarsOutsideTheWindow_IncludingTheLiveBarAfterPeriod2_AreDroppedAndCountedSeparately()
    {
        var window = new TimeWindow(Fixtures.At("2024-03-04T00:00:00Z"), Fixtures.At("2024-03-04T21:00:00Z"));

        var parsed = YahooChartParser.ParseDetailed(Fixtures.Bytes("live-bar-after-period2.json"), "MSFT", window);

        Assert.Equal(2, parsed.OutsideWindow);
        Assert.Equal(0, parsed.Quotes.DroppedBars);
        Assert.Equal(7, parsed.Quotes.Bars.Count);
        Assert.All(parsed.Quotes.Bars, bar => Assert.True(window.Contains(bar.Timestamp)));
        Assert.DoesNotContain(parsed.Quotes.Bars, bar => bar.Volume == 0);
    }

    [Fact]
    public void BarStartingExactlyAtWindowEnd_IsDropped()
    {
        var window = new TimeWindow(Fixtures.At("2024-03-04T00:00:00Z"), Fixtures.At("2024-03-04T20:30:00Z"));

        var parsed = YahooChartParser.ParseDetailed(Fixtures.Bytes("hourly-no-adjclose.json"), "MSFT", window);

        Assert.Equal(6, parsed.Quotes.Bars.Count);
        Assert.Equal(1, parsed.OutsideWindow);
    }

    [Fact]
    public void NotFoundErrorBody_IsAPerTickerErrorNamingTheTicker()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("not-found-404.json"), "NOPE", Fixtures.Monday);

        Assert.True(quotes.Failed);
        Assert.Empty(quotes.Bars);
        Assert.StartsWith("unknown or delisted: NOPE", quotes.Error, StringComparison.Ordinal);
        Assert.Contains("No data found, symbol may be delisted", quotes.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherChartError_IsAPerTickerErrorWithCodeAndDescription()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("bad-request-400.json"), "MSFT", Fixtures.Monday);

        Assert.True(quotes.Failed);
        Assert.Contains("Bad Request: 1h data not available", quotes.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void ArrayLengthThatDisagreesWithTimestamp_RejectsTheResponseNamingArrayAndLengths()
    {
        var ex = Assert.Throws<YahooChartFormatException>(
            () => YahooChartParser.Parse(Fixtures.Bytes("mismatched-lengths.json"), "MSFT", Fixtures.Monday));

        Assert.Contains("indicators.quote[0].close has length 6", ex.Message, StringComparison.Ordinal);
        Assert.Contains("timestamp has 7", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AdjCloseLengthThatDisagrees_IsRejected()
    {
        var json = Chart("""
            "timestamp":[1709562600,1709566200],
            "indicators":{"quote":[{"open":[1,2],"high":[1,2],"low":[1,2],"close":[1,2],"volume":[1,2]}],"adjclose":[{"adjclose":[1]}]}
            """);

        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse(json, "MSFT", Fixtures.Monday));

        Assert.Contains("adjclose[0].adjclose has length 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATimestampInMilliseconds_IsAFormatError_NotAnUnexpectedException()
    {
        // DateTimeOffset.FromUnixTimeSeconds threw ArgumentOutOfRangeException: taken for an unexpected failure.
        var json = Chart("""
            "timestamp":[1709562600000],
            "indicators":{"quote":[{"open":[1],"high":[1],"low":[1],"close":[1],"volume":[1]}]}
            """);

        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse(json, "MSFT", Fixtures.Monday));

        Assert.Contains("timestamp[0] = 1709562600000 is not a time in Unix seconds", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingQuoteArrayWhileTimestampsExist_IsRejected()
    {
        var json = Chart("""
            "timestamp":[1709562600],
            "indicators":{"quote":[{"open":[1],"high":[1],"low":[1],"close":[1]}]}
            """);

        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse(json, "MSFT", Fixtures.Monday));

        Assert.Contains("volume has length missing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DailyResponse_KeepsAdjClose_AcceptsExponentVolume_AndNullAdjCloseKeepsTheBar()
    {
        var window = new TimeWindow(Fixtures.At("2024-01-01T00:00:00Z"), Fixtures.At("2024-01-06T00:00:00Z"));

        var quotes = YahooChartParser.Parse(Fixtures.Bytes("daily-with-adjclose.json"), "^GSPC", window);

        Assert.Null(quotes.Error);
        Assert.Equal(3, quotes.Bars.Count);
        Assert.Equal(new long[] { 3_743_890_000, 3_950_760_000, 3_715_000_000 }, quotes.Bars.Select(b => b.Volume));
        Assert.Equal(new double?[] { 4742.83, null, 4688.68 }, quotes.Bars.Select(b => b.AdjClose));
        Assert.Equal(0, quotes.DroppedBars);
    }

    [Fact]
    public void FractionalVolume_IsRejectedNamingTheIndex()
    {
        var json = Chart("""
            "timestamp":[1709562600],
            "indicators":{"quote":[{"open":[1],"high":[1],"low":[1],"close":[1],"volume":[12.5]}]}
            """);

        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse(json, "MSFT", Fixtures.Monday));

        Assert.Contains("volume[0]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("12.5", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SymbolMismatch_IsAPerTickerErrorNamingBoth()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("hourly-no-adjclose.json"), "AAPL", Fixtures.Monday);

        Assert.True(quotes.Failed);
        Assert.Empty(quotes.Bars);
        Assert.Contains("'MSFT'", quotes.Error, StringComparison.Ordinal);
        Assert.Contains("'AAPL'", quotes.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void SymbolComparison_IgnoresCase()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("hourly-no-adjclose.json"), "msft", Fixtures.Monday);

        Assert.False(quotes.Failed);
        Assert.Equal(7, quotes.Bars.Count);
    }

    [Fact]
    public void RepeatedTimestamp_LaterBarWins()
    {
        var json = Chart("""
            "timestamp":[1709562600,1709562600],
            "indicators":{"quote":[{"open":[1,2],"high":[1,2],"low":[1,2],"close":[1,2],"volume":[10,20]}]}
            """);

        var parsed = YahooChartParser.ParseDetailed(json, "MSFT", Fixtures.Monday);

        var bar = Assert.Single(parsed.Quotes.Bars);
        Assert.Equal(20, bar.Volume);
        Assert.Equal(1, parsed.Duplicates);
        // The replaced bar is counted, as a null bar is: Extract's records.in covers every row Yahoo sent in the window.
        Assert.Equal(1, parsed.Quotes.DroppedBars);
    }

    [Fact]
    public void NullBarsAndRepeats_AreBothCountedAsDropped()
    {
        var json = Chart("""
            "timestamp":[1709562600,1709566200,1709562600],
            "indicators":{"quote":[{"open":[1,null,2],"high":[1,null,2],"low":[1,null,2],"close":[1,null,2],"volume":[10,null,20]}]}
            """);

        var parsed = YahooChartParser.ParseDetailed(json, "MSFT", Fixtures.Monday);

        Assert.Single(parsed.Quotes.Bars);
        Assert.Equal(2, parsed.Quotes.DroppedBars);
        Assert.Equal(3, parsed.Quotes.Bars.Count + parsed.Quotes.DroppedBars);
        // ... and kept apart by reason, for Extract's bars_dropped_null and bars_dropped_duplicate.
        Assert.Equal(1, parsed.Quotes.NullBars);
        Assert.Equal(1, parsed.Quotes.DuplicateBars);
    }

    [Fact]
    public void NullBarsOnly_AreNotCountedAsDuplicates()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("hourly-with-nulls.json"), "MSFT", Fixtures.Monday);

        Assert.Equal((2, 2, 0), (quotes.DroppedBars, quotes.NullBars, quotes.DuplicateBars));
    }

    [Fact]
    public void InvalidJson_IsAFormatException()
    {
        Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse("{\"chart\":"u8, "MSFT", Fixtures.Monday));
    }

    [Fact]
    public void BodyWithoutChart_IsAFormatException()
    {
        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse("{\"finance\":{}}"u8, "MSFT", Fixtures.Monday));

        Assert.Contains("'chart'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StreamOverload_ReadsTheSameAsBytes()
    {
        using var stream = Fixtures.Stream("hourly-with-nulls.json");

        var fromStream = YahooChartParser.Parse(stream, "MSFT", Fixtures.Monday);
        var fromBytes = YahooChartParser.Parse(Fixtures.Bytes("hourly-with-nulls.json"), "MSFT", Fixtures.Monday);

        Assert.Equal(fromBytes.Bars, fromStream.Bars);
        Assert.Equal(fromBytes.DroppedBars, fromStream.DroppedBars);
    }

    private static byte[] Chart(string resultBody) =>
        Encoding.UTF8.GetBytes("{\"chart\":{\"result\":[{\"meta\":{\"symbol\":\"MSFT\"}," + resultBody + "}],\"error\":null}}");
}
