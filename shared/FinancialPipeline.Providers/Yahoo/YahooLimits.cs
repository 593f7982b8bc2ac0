using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Providers.Yahoo;

/// <summary>What the chart API accepts: bar sizes, how far back each goes, and how much one request may span.</summary>
public static class YahooLimits
{
    private static readonly (TimeSpan BarSize, string Interval)[] Intervals =
    [
        (TimeSpan.FromMinutes(1), "1m"),
        (TimeSpan.FromMinutes(2), "2m"),
        (TimeSpan.FromMinutes(5), "5m"),
        (TimeSpan.FromMinutes(15), "15m"),
        (TimeSpan.FromMinutes(30), "30m"),
        (TimeSpan.FromHours(1), "1h"),
        (TimeSpan.FromMinutes(90), "90m"),
        (TimeSpan.FromDays(1), "1d"),
        (TimeSpan.FromDays(5), "5d"),
        (TimeSpan.FromDays(7), "1wk"),
    ];

    /// <summary>The <c>interval</c> query value for <paramref name="barSize"/> (1 h → "1h").</summary>
    /// <exception cref="ArgumentOutOfRangeException">Yahoo has no such bar size.</exception>
    public static string Interval(TimeSpan barSize)
    {
        foreach (var (size, interval) in Intervals)
        {
            if (size == barSize)
            {
                return interval;
            }
        }

        throw new ArgumentOutOfRangeException(
            nameof(barSize),
            barSize,
            "Yahoo serves no such bar size; supported: " + string.Join(", ", Intervals.Select(i => i.Interval)));
    }

    /// <summary>How far back from now Yahoo serves <paramref name="barSize"/> bars; null when unlimited (daily and longer).</summary>
    public static TimeSpan? MaxLookback(TimeSpan barSize)
    {
        _ = Interval(barSize);
        if (barSize >= TimeSpan.FromDays(1))
        {
            return null;
        }

        if (barSize == TimeSpan.FromMinutes(1))
        {
            return TimeSpan.FromDays(7);
        }

        return barSize == TimeSpan.FromHours(1) ? TimeSpan.FromDays(730) : TimeSpan.FromDays(60);
    }

    /// <summary>
    /// The longest window one request should ask for: 7 days of 1m bars (Yahoo refuses more), 60 days of other
    /// intraday bars (keeps a response and a retry small), 10 years of daily and longer bars.
    /// </summary>
    public static TimeSpan MaxRequestSpan(TimeSpan barSize)
    {
        _ = Interval(barSize);
        if (barSize == TimeSpan.FromMinutes(1))
        {
            return TimeSpan.FromDays(7);
        }

        return barSize < TimeSpan.FromDays(1) ? TimeSpan.FromDays(60) : TimeSpan.FromDays(3650);
    }

    /// <summary>
    /// Splits <paramref name="window"/> into consecutive request windows (each no longer than
    /// <see cref="MaxRequestSpan"/>; no gap, no overlap; the first starts at the window start, the last ends at its end).
    /// </summary>
    /// <exception cref="ArgumentException">The window starts earlier than Yahoo serves <paramref name="barSize"/> bars, as of <paramref name="timeProvider"/>'s now.</exception>
    public static IReadOnlyList<TimeWindow> Chunk(TimeWindow window, TimeSpan barSize, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        var interval = Interval(barSize);
        if (MaxLookback(barSize) is { } lookback)
        {
            var earliest = timeProvider.GetUtcNow() - lookback;
            if (window.Start < earliest)
            {
                throw new ArgumentException(
                    $"window {window} starts before {earliest:yyyy-MM-ddTHH:mm:ssZ}: Yahoo serves {interval} bars only for the last {lookback.TotalDays:0} days; shorten the backfill or use a larger bar size",
                    nameof(window));
            }
        }

        var span = MaxRequestSpan(barSize);
        var chunks = new List<TimeWindow>();
        for (var start = window.Start; start < window.End; start += span)
        {
            var end = window.End - start > span ? start + span : window.End;
            chunks.Add(new TimeWindow(start, end));
        }

        return chunks;
    }
}
