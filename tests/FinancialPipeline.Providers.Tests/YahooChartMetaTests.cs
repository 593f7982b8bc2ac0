using System.Text;
using FinancialPipeline.Providers.Yahoo;

namespace FinancialPipeline.Providers.Tests;

/// <summary>What the parser keeps and checks of a chart response's <c>meta</c>: currency, exchange time zone, granularity.</summary>
public sealed class YahooChartMetaTests
{
    private const string Bars = """
        "timestamp":[1709562600,1709566200],
        "indicators":{"quote":[{"open":[1,2],"high":[1,2],"low":[1,2],"close":[1,2],"volume":[10,20]}]}
        """;

    [Fact]
    public void EveryBar_CarriesTheResponsesCurrencyAndExchangeTimeZone()
    {
        var quotes = YahooChartParser.Parse(Fixtures.Bytes("hourly-no-adjclose.json"), "MSFT", Fixtures.Monday, "1h");

        Assert.Equal(7, quotes.Bars.Count);
        Assert.All(quotes.Bars, bar => Assert.Equal(("USD", "America/New_York"), (bar.Currency, bar.ExchangeTimezone)));
    }

    [Theory]
    [InlineData("JPY", "Asia/Tokyo")]
    [InlineData("GBp", "Europe/London")] // pence: the case is kept, GBP would be a hundred times the price
    [InlineData("USD", "America/Argentina/Buenos_Aires")]
    [InlineData("USD", "Etc/GMT+5")]
    [InlineData("USDT", "UTC")] // a unit ISO 4217 does not list (a stablecoin quote)
    public void ACurrencyCodeAndAZoneName_AreKeptAsWritten(string currency, string zone)
    {
        var quotes = YahooChartParser.Parse(Chart($"\"currency\":\"{currency}\",\"exchangeTimezoneName\":\"{zone}\"", Bars), "MSFT", Fixtures.Monday, "1h");

        Assert.False(quotes.Failed);
        Assert.All(quotes.Bars, bar => Assert.Equal((currency, zone), (bar.Currency, bar.ExchangeTimezone)));
    }

    [Fact]
    public void AbsentOrNullMetaFields_AreAccepted_AndTheCurrencyIsUnknown()
    {
        var absent = YahooChartParser.Parse(Chart(string.Empty, Bars), "MSFT", Fixtures.Monday, "1h");
        var nulls = YahooChartParser.Parse(Chart("\"currency\":null,\"exchangeTimezoneName\":null,\"dataGranularity\":null", Bars), "MSFT", Fixtures.Monday, "1h");
        var noMeta = YahooChartParser.Parse(Encoding.UTF8.GetBytes("{\"chart\":{\"result\":[{" + Bars + "}],\"error\":null}}"), "MSFT", Fixtures.Monday, "1h");

        foreach (var quotes in new[] { absent, nulls, noMeta })
        {
            Assert.False(quotes.Failed);
            Assert.Equal(2, quotes.Bars.Count);
            Assert.All(quotes.Bars, bar => Assert.Equal((null, null), (bar.Currency, bar.ExchangeTimezone)));
        }
    }

    [Theory]
    [InlineData("\"US\"", "meta.currency 'US' is not a currency code (3 to 5 letters or digits, e.g. USD, GBp, USDT)")]
    [InlineData("\"US D\"", "meta.currency 'US D' is not a currency code (3 to 5 letters or digits, e.g. USD, GBp, USDT)")]
    [InlineData("\"U$D\"", "meta.currency 'U$D' is not a currency code (3 to 5 letters or digits, e.g. USD, GBp, USDT)")]
    [InlineData("\"USDTXX\"", "meta.currency 'USDTXX' is not a currency code (3 to 5 letters or digits, e.g. USD, GBp, USDT)")]
    [InlineData("\"1USD\"", "meta.currency '1USD' is not a currency code (3 to 5 letters or digits, e.g. USD, GBp, USDT)")]
    [InlineData("\"\"", "meta.currency '' is not a currency code (3 to 5 letters or digits, e.g. USD, GBp, USDT)")]
    [InlineData("840", "meta.currency should be a string but is Number (840)")]
    public void ACurrencyThatIsNotACurrencyCode_IsAFormatErrorNamingTheField(string value, string message)
    {
        var ex = Assert.Throws<YahooChartFormatException>(() =>
            YahooChartParser.Parse(Chart($"\"currency\":{value}", Bars), "MSFT", Fixtures.Monday, "1h"));

        Assert.Equal("chart response for MSFT: " + message, ex.Message);
    }

    [Theory]
    [InlineData("\"America/../etc\"")]
    [InlineData("\"/UTC\"")]
    [InlineData("\"New York\"")]
    [InlineData("true")]
    public void AnExchangeTimeZoneThatIsNotAZoneName_IsAFormatErrorNamingTheField(string value)
    {
        var ex = Assert.Throws<YahooChartFormatException>(() =>
            YahooChartParser.Parse(Chart($"\"exchangeTimezoneName\":{value}", Bars), "MSFT", Fixtures.Monday, "1h"));

        Assert.Contains("meta.exchangeTimezoneName", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AGranularityOtherThanTheIntervalRequested_IsAFormatErrorNamingFieldValueAndExpected()
    {
        // Daily bars stamped 14:30Z would pass a 1h job's alignment rule and be stored as hours.
        var ex = Assert.Throws<YahooChartFormatException>(() =>
            YahooChartParser.Parse(Fixtures.Bytes("daily-with-adjclose.json"), "^GSPC", Fixtures.Monday, "1h"));

        Assert.Equal("chart response for ^GSPC: meta.dataGranularity is '1d' but interval '1h' was requested", ex.Message);
    }

    [Theory]
    [InlineData("1h", "1h")]
    [InlineData("60m", "1h")] // Yahoo's other name for an hour
    [InlineData("1h", "60m")]
    [InlineData("1d", "1d")]
    public void TheRequestedGranularity_OrAnEquivalentName_IsAccepted(string granularity, string interval)
    {
        var quotes = YahooChartParser.Parse(Chart($"\"dataGranularity\":\"{granularity}\"", Bars), "MSFT", Fixtures.Monday, interval);

        Assert.Equal(2, quotes.Bars.Count);
    }

    [Fact]
    public void WithoutARequestedInterval_TheGranularityIsNotChecked()
    {
        var quotes = YahooChartParser.Parse(Chart("\"dataGranularity\":\"1d\"", Bars), "MSFT", Fixtures.Monday);

        Assert.Equal(2, quotes.Bars.Count);
    }

    [Fact]
    public void MetaThatIsNotAnObject_IsAFormatError()
    {
        var json = Encoding.UTF8.GetBytes("{\"chart\":{\"result\":[{\"meta\":[]," + Bars + "}],\"error\":null}}");

        var ex = Assert.Throws<YahooChartFormatException>(() => YahooChartParser.Parse(json, "MSFT", Fixtures.Monday, "1h"));

        Assert.Contains("meta should be an object", ex.Message, StringComparison.Ordinal);
    }

    private static byte[] Chart(string metaFields, string resultBody)
    {
        var meta = metaFields.Length == 0 ? "\"symbol\":\"MSFT\"" : "\"symbol\":\"MSFT\"," + metaFields;
        return Encoding.UTF8.GetBytes("{\"chart\":{\"result\":[{\"meta\":{" + meta + "}," + resultBody + "}],\"error\":null}}");
    }
}
