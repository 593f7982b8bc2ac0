namespace FinancialPipeline.Core.Market;

/// <summary>
/// US equity regular session: 09:30–16:00 America/New_York, Monday to Friday, without the NYSE's rule-based
/// holidays and with its 13:00 early closes. Hourly bars start at :30 like Yahoo's (09:30, 10:30 … 15:30; on an
/// early-close day the 12:30 bar is the last and lasts half an hour). Unscheduled closures (national days of
/// mourning, storms) are not rule-based and are not modelled.
/// </summary>
public static class MarketCalendar
{
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
    private static readonly TimeSpan Open = new(9, 30, 0);
    private static readonly TimeSpan RegularClose = new(16, 0, 0);
    private static readonly TimeSpan EarlyCloseTime = new(13, 0, 0);

    /// <summary>Start times (UTC) of the session's bars of <paramref name="barSize"/> that begin inside <paramref name="window"/>.</summary>
    public static IEnumerable<DateTimeOffset> BarStarts(Contracts.TimeWindow window, TimeSpan barSize)
    {
        var firstDay = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(window.Start, NewYork).Date.AddDays(-1));
        var lastDay = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(window.End, NewYork).Date);
        for (var day = firstDay; day <= lastDay; day = day.AddDays(1))
        {
            if (!IsTradingDay(day))
            {
                continue;
            }

            var open = LocalToUtc(day, Open);
            var close = LocalToUtc(day, CloseOf(day));
            if (barSize >= TimeSpan.FromDays(1))
            {
                if (window.Contains(open))
                {
                    yield return open;
                }

                continue;
            }

            for (var t = open; t < close; t += barSize)
            {
                if (window.Contains(t))
                {
                    yield return t;
                }
            }
        }
    }

    /// <summary>The session close (UTC) of the New York trading day containing <paramref name="barStart"/>.</summary>
    public static DateTimeOffset SessionClose(DateTimeOffset barStart)
    {
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(barStart, NewYork).Date);
        return LocalToUtc(day, CloseOf(day));
    }

    /// <summary>A weekday that is not an exchange holiday.</summary>
    public static bool IsTradingDay(DateOnly day) => day.DayOfWeek is not (DayOfWeek.Saturday or DayOfWeek.Sunday) && !IsHoliday(day);

    /// <summary>
    /// NYSE full-day holidays: New Year's Day, Martin Luther King Jr. Day, Washington's Birthday, Good Friday,
    /// Memorial Day, Juneteenth (from 2022), Independence Day, Labor Day, Thanksgiving and Christmas. A holiday on a
    /// Saturday is observed the Friday before, on a Sunday the Monday after, except New Year's Day on a Saturday,
    /// which is not observed (the exchange does not close on the last day of the year before).
    /// </summary>
    public static bool IsHoliday(DateOnly day)
    {
        var y = day.Year;
        return day == NewYearObserved(y)
            || day == NthWeekday(y, 1, DayOfWeek.Monday, 3)
            || day == NthWeekday(y, 2, DayOfWeek.Monday, 3)
            || day == EasterSunday(y).AddDays(-2)
            || day == LastWeekday(y, 5, DayOfWeek.Monday)
            || (y >= 2022 && day == Observed(new DateOnly(y, 6, 19)))
            || day == Observed(new DateOnly(y, 7, 4))
            || day == NthWeekday(y, 9, DayOfWeek.Monday, 1)
            || day == Thanksgiving(y)
            || day == Observed(new DateOnly(y, 12, 25));
    }

    /// <summary>
    /// 13:00 New York on the NYSE's early-close days: the day after Thanksgiving, and July 3 and December 24 when
    /// they fall Monday to Thursday (on a Friday they are the observed holiday instead). Otherwise null.
    /// </summary>
    public static TimeOnly? EarlyClose(DateOnly day)
    {
        var isEve = (day.Month, day.Day) is (7, 3) or (12, 24) && day.DayOfWeek is >= DayOfWeek.Monday and <= DayOfWeek.Thursday;
        return isEve || day == Thanksgiving(day.Year).AddDays(1) ? TimeOnly.FromTimeSpan(EarlyCloseTime) : null;
    }

    private static TimeSpan CloseOf(DateOnly day) => EarlyClose(day)?.ToTimeSpan() ?? RegularClose;

    private static DateOnly Observed(DateOnly date) => date.DayOfWeek switch
    {
        DayOfWeek.Saturday => date.AddDays(-1),
        DayOfWeek.Sunday => date.AddDays(1),
        _ => date,
    };

    private static DateOnly? NewYearObserved(int year)
    {
        var date = new DateOnly(year, 1, 1);
        return date.DayOfWeek switch
        {
            DayOfWeek.Saturday => null,
            DayOfWeek.Sunday => date.AddDays(1),
            _ => date,
        };
    }

    private static DateOnly Thanksgiving(int year) => NthWeekday(year, 11, DayOfWeek.Thursday, 4);

    private static DateOnly NthWeekday(int year, int month, DayOfWeek weekday, int n)
    {
        var first = new DateOnly(year, month, 1);
        return first.AddDays((((int)weekday - (int)first.DayOfWeek + 7) % 7) + (7 * (n - 1)));
    }

    private static DateOnly LastWeekday(int year, int month, DayOfWeek weekday)
    {
        var last = new DateOnly(year, month, DateTime.DaysInMonth(year, month));
        return last.AddDays(-(((int)last.DayOfWeek - (int)weekday + 7) % 7));
    }

    /// <summary>Gregorian Easter Sunday (the anonymous Gregorian algorithm, Meeus/Jones/Butcher).</summary>
    private static DateOnly EasterSunday(int year)
    {
        var a = year % 19;
        var b = year / 100;
        var c = year % 100;
        var d = b / 4;
        var e = b % 4;
        var f = (b + 8) / 25;
        var g = (b - f + 1) / 3;
        var h = ((19 * a) + b - d - g + 15) % 30;
        var i = c / 4;
        var k = c % 4;
        var l = (32 + (2 * e) + (2 * i) - h - k) % 7;
        var m = (a + (11 * h) + (22 * l)) / 451;
        var month = (h + l - (7 * m) + 114) / 31;
        var day = ((h + l - (7 * m) + 114) % 31) + 1;
        return new DateOnly(year, month, day);
    }

    private static DateTimeOffset LocalToUtc(DateOnly day, TimeSpan timeOfDay)
    {
        var local = day.ToDateTime(TimeOnly.FromTimeSpan(timeOfDay), DateTimeKind.Unspecified);
        return new DateTimeOffset(local, NewYork.GetUtcOffset(local)).ToUniversalTime();
    }
}
