using System.Text;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Providers.Yahoo;

namespace FinancialPipeline.Providers.Tests;

/// <summary>
/// <c>events.splits</c> of the chart response. <c>aapl-daily-4-for-1-split-2020-08-31.json</c> is the body of a real
/// recorded response (gadicc/node-yahoo-finance2, tests/fixtures/http/chart-AAPL-2020-08-31-to-2020-11-07.json at
/// c9dbcb6f, its <c>response.bodyJson</c>): AAPL's daily bars from the 4:1 split of 2020-08-31 on, with the split and a dividend in its events.
/// </summary>
public class YahooChartSplitTests
{
    private static readonly TimeWindow SplitSample = new(Fixtures.At("2020-08-31T00:00:00Z"), Fixtures.At("2020-11-07T00:00:00Z"));

    [Fact]
    public void RealSplitSample_ReportsAapls4For1Split_AndStillReadsEveryBar()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("aapl-daily-4-for-1-split-2020-08-31.json"), "AAPL", SplitSample);

        Assert.Null(quotes.Error);
        var split = Assert.Single(quotes.Splits);
        Assert.Equal(Fixtures.At("2020-08-31T13:30:00Z"), split.Date);
        Assert.Equal((4d, 1d, 4d, "4:1"), (split.Numerator, split.Denominator, split.Factor, split.Ratio));
        Assert.Equal(49, quotes.Bars.Count);
        // The first bar on the new basis: 129.04 against the 28 Aug close of 499.23 (124.81 adjusted).
        Assert.Equal(129.0399932861328, quotes.Bars[0].Close);
    }

    [Fact]
    public void ResponseWithoutEvents_HasNoSplits()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("hourly-no-adjclose.json"), "MSFT", Fixtures.Monday);

        Assert.Empty(quotes.Splits);
    }

    [Fact]
    public void SplitsOfARangeWithoutBars_AreStillReported()
    {
        var json = Chart("""{"splits":{"1598880600":{"date":1598880600,"numerator":4,"denominator":1,"splitRatio":"4:1"}}}""", withBars: false);

        var quotes = YahooChartParser.Parse(json, "AAPL", SplitSample);

        Assert.Empty(quotes.Bars);
        Assert.Equal(Fixtures.At("2020-08-31T13:30:00Z"), Assert.Single(quotes.Splits).Date);
    }

    [Fact]
    public void ReverseAndFractionalSplits_AreReadAscendingByDate()
    {
        var json = Chart("""
            {"dividends":{"1604673000":{"amount":0.205,"date":1604673000}},
             "splits":{"1700000000":{"date":1700000000,"numerator":1,"denominator":10,"splitRatio":"1:10"},
                       "1600000000":{"date":1600000000,"numerator":3,"denominator":2,"splitRatio":"3:2"}}}
            """);

        var splits = YahooChartParser.Parse(json, "AAPL", SplitSample).Splits;

        Assert.Equal(
            new[] { new StockSplit(DateTimeOffset.FromUnixTimeSeconds(1600000000), 3, 2), new StockSplit(DateTimeOffset.FromUnixTimeSeconds(1700000000), 1, 10) },
            splits);
        Assert.Equal(("3:2", "1:10", 0.1), (splits[0].Ratio, splits[1].Ratio, splits[1].Factor));
    }

    [Theory]
    [InlineData("""{"numerator":4,"denominator":1}""", "events.splits[\"1598880600\"].date is not a time in Unix seconds (missing)")]
    [InlineData("""{"date":"2020-08-31","numerator":4,"denominator":1}""", "events.splits[\"1598880600\"].date is not a time in Unix seconds (\"2020-08-31\")")]
    [InlineData("""{"date":1598880600000000,"numerator":4,"denominator":1}""", "events.splits[\"1598880600\"].date is not a time in Unix seconds (1598880600000000)")]
    [InlineData("""{"date":1598880600,"denominator":1}""", "events.splits[\"1598880600\"].numerator is not a positive number (missing)")]
    [InlineData("""{"date":1598880600,"numerator":0,"denominator":1}""", "events.splits[\"1598880600\"].numerator is not a positive number (0)")]
    [InlineData("""{"date":1598880600,"numerator":4,"denominator":null}""", "events.splits[\"1598880600\"].denominator is not a positive number (null)")]
    [InlineData("""{"date":1598880600,"numerator":4,"denominator":-1}""", "events.splits[\"1598880600\"].denominator is not a positive number (-1)")]
    [InlineData("""[4,1]""", "events.splits[\"1598880600\"] should be an object but is Array")]
    public void AMalformedSplit_RejectsTheResponse_NamingTheField(string entry, string expected)
    {
        var json = Chart("{\"splits\":{\"1598880600\":" + entry + "}}");

        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse(json, "AAPL", SplitSample));

        Assert.Equal("chart response for AAPL: " + expected, ex.Message);
    }

    [Fact]
    public void SplitsThatAreNotAnObject_RejectTheResponse()
    {
        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse(Chart("""{"splits":[]}"""), "AAPL", SplitSample));

        Assert.Contains("events.splits should be an object but is Array", ex.Message, StringComparison.Ordinal);
    }

    private static byte[] Chart(string events, bool withBars = true)
    {
        var bars = withBars
            ? """ "timestamp":[1598880600],"indicators":{"quote":[{"open":[127.58],"high":[131.0],"low":[126.0],"close":[129.04],"volume":[225702700]}]} """
            : """ "indicators":{"quote":[{}]} """;
        return Encoding.UTF8.GetBytes("""{"chart":{"result":[{"meta":{"symbol":"AAPL"},""" + bars + ""","events":""" + events + "}],\"error\":null}}");
    }
}
