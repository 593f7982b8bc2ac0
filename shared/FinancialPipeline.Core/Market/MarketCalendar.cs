namespace FinancialPipeline.Core.Market;

/// <summary>
/// US equity regular session (09:30–16:00 America/New_York, Monday to Friday). Exchange holidays are not
/// modelled (see README, known limits). Hourly bars start at :30 like Yahoo's (09:30, 10:30 … 15:30).
/// </summary>
public static class MarketCalendar
{
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    /// <summary>Start times (UTC) of the session's bars of <paramref name="barSize"/> that begin inside <paramref name="window"/>.</summary>
    public static IEnumerable<DateTimeOffset> BarStarts(Contracts.TimeWindow window, TimeSpan barSize)
    {
        var firstDay = TimeZoneInfo.ConvertTime(window.Start, NewYork).Date.AddDays(-1);
        var lastDay = TimeZoneInfo.ConvertTime(window.End, NewYork).Date;
        for (var day = firstDay; day <= lastDay; day = day.AddDays(1))
        {
            if (day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday)
            {
                continue;
            }

            var open = LocalToUtc(day.AddHours(9).AddMinutes(30));
            var close = LocalToUtc(day.AddHours(16));
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
        var day = TimeZoneInfo.ConvertTime(barStart, NewYork).Date;
        return LocalToUtc(day.AddHours(16));
    }

    private static DateTimeOffset LocalToUtc(DateTime local)
    {
        var offset = NewYork.GetUtcOffset(local);
        return new DateTimeOffset(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), offset).ToUniversalTime();
    }
}
