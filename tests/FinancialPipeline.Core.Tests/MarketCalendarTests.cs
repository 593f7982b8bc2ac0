using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;

namespace FinancialPipeline.Core.Tests;

/// <summary>The synthetic session calendar against the NYSE's published holiday and early-close lists.</summary>
public sealed class MarketCalendarTests
{
    public static TheoryData<int, string[], string[]> PublishedCalendars => new()
    {
        {
            2026,
            ["2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"],
            ["2026-11-27", "2026-12-24"]
        },
        {
            // Juneteenth and Christmas on a Saturday are observed on the Friday, Independence Day on a Sunday on the Monday.
            2027,
            ["2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18", "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24"],
            ["2027-11-26"]
        },
        {
            // Without the unscheduled closure of 9 January 2025 (national day of mourning): not rule-based.
            2025,
            ["2025-01-01", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"],
            ["2025-07-03", "2025-11-28", "2025-12-24"]
        },
    };

    [Theory]
    [MemberData(nameof(PublishedCalendars))]
    public void HolidaysAndEarlyCloses_MatchTheExchangesList(int year, string[] holidays, string[] earlyCloses)
    {
        var days = Enumerable.Range(0, DateTime.IsLeapYear(year) ? 366 : 365).Select(d => new DateOnly(year, 1, 1).AddDays(d)).ToList();

        Assert.Equal(holidays.Select(DateOnly.Parse), days.Where(MarketCalendar.IsHoliday));
        Assert.Equal(earlyCloses.Select(DateOnly.Parse), days.Where(d => MarketCalendar.EarlyClose(d) is not null));
        Assert.All(days.Where(d => MarketCalendar.EarlyClose(d) is not null), d => Assert.True(MarketCalendar.IsTradingDay(d)));
    }

    [Fact]
    public void NewYearsDayOnASaturday_IsNotObservedOnTheFridayBefore()
    {
        Assert.False(MarketCalendar.IsHoliday(new DateOnly(2021, 12, 31)));
        Assert.True(MarketCalendar.IsTradingDay(new DateOnly(2021, 12, 31)));
        Assert.False(MarketCalendar.IsHoliday(new DateOnly(2022, 1, 3)));
    }

    [Fact]
    public void ThanksgivingWeek_HasNoBarsOnThursday_AndFourOnTheEarlyCloseFriday()
    {
        // Mon 23 – Fri 27 November 2026, New York is UTC-5.
        var week = new TimeWindow(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero));

        var bars = MarketCalendar.BarStarts(week, TimeSpan.FromHours(1)).ToList();

        Assert.Equal((3 * 7) + 4, bars.Count);
        Assert.DoesNotContain(bars, b => b.Day == 26);
        Assert.Equal(
            [new(2026, 11, 27, 14, 30, 0, TimeSpan.Zero), new(2026, 11, 27, 15, 30, 0, TimeSpan.Zero), new(2026, 11, 27, 16, 30, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 27, 17, 30, 0, TimeSpan.Zero)],
            bars.Where(b => b.Day == 27));
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 18, 0, 0, TimeSpan.Zero), MarketCalendar.SessionClose(bars[^1]));
        Assert.Equal(4, MarketCalendar.BarStarts(week, TimeSpan.FromDays(1)).Count());
    }

    [Fact]
    public void SyntheticProvider_TheLastHourlyBarOfAnEarlyClose_EndsAtTheOneOClockClose()
    {
        var lastBar = new DateTimeOffset(2026, 11, 27, 17, 30, 0, TimeSpan.Zero); // 12:30 New York
        var sameTimeOnAFullDay = new DateTimeOffset(2026, 11, 20, 17, 30, 0, TimeSpan.Zero);

        // Its close is the price at 13:00, as for a half-hour bar; on a full day the hour runs to 13:30.
        Assert.Equal(SyntheticQuoteProvider.Bar("AAPL", lastBar, TimeSpan.FromMinutes(30)).Close, SyntheticQuoteProvider.Bar("AAPL", lastBar, TimeSpan.FromHours(1)).Close);
        Assert.NotEqual(SyntheticQuoteProvider.Bar("AAPL", sameTimeOnAFullDay, TimeSpan.FromMinutes(30)).Close, SyntheticQuoteProvider.Bar("AAPL", sameTimeOnAFullDay, TimeSpan.FromHours(1)).Close);
    }
}
