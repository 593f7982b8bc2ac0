using System.Globalization;
using FinancialPipeline.Core.Jobs;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// The named validation rules of silver, checked on primitive column values (no object per row). A row is
/// named after the first rule it breaks, in the order of <see cref="Names"/>. <c>duplicate_in_batch</c> needs
/// the whole batch and is decided while a date partition is merged (see <see cref="SilverEngine"/>).
/// </summary>
public sealed class SilverRules
{
    public const string PricePositive = "price_positive";
    public const string HighLowBounds = "high_low_bounds";
    public const string VolumeNonNegative = "volume_non_negative";
    public const string VolumePlausible = "volume_plausible";
    public const string TimestampAligned = "timestamp_aligned";
    public const string NotInFuture = "not_in_future";
    public const string TickerInJob = "ticker_in_job";
    public const string DuplicateInBatch = "duplicate_in_batch";

    public const int Valid = 0;
    public const int DuplicateInBatchId = 8;

    /// <summary>
    /// The largest volume a bar may carry: gold sums an hour's bars into an INT64 (DuckDB BIGINT, BigQuery INT64), and
    /// 3,600 one-second bars of this size still fit. A larger value is a provider's error, not a trade; accepted, it
    /// would overflow that sum and fail every gold MERGE over its date, for every ticker, until silver was edited.
    /// </summary>
    public const long MaxVolume = 1_000_000_000_000_000;

    private readonly long _alignmentTicks;
    private readonly long _barTicks;
    private readonly long _nowTicks;

    public SilverRules(JobConfig job, DateTimeOffset now)
    {
        Alignment = AlignmentOf(job.BarSize);
        BarSize = job.BarSize;
        Now = now.ToUniversalTime();
        _alignmentTicks = Alignment.Ticks;
        _barTicks = BarSize.Ticks;
        _nowTicks = Now.UtcTicks;
    }

    /// <summary>Rule names by id (index 0 is "valid").</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["", PricePositive, HighLowBounds, VolumeNonNegative, VolumePlausible, TimestampAligned, NotInFuture, TickerInJob, DuplicateInBatch];

    /// <summary>The grid bar starts must sit on (<see cref="AlignmentOf"/>).</summary>
    public TimeSpan Alignment { get; }

    public TimeSpan BarSize { get; }

    public DateTimeOffset Now { get; }

    /// <summary>
    /// A provider stamps a bar at its session's open plus whole bars, and sessions open on a quarter hour of UTC (time
    /// zones are whole quarter hours; US hourly bars start at :30, India's NSE and BSE at 03:45 UTC, Nepal at :15), so
    /// bar starts lie on the grid of the greatest common divisor of the bar size and 15 minutes: the bar size for 1m,
    /// 5m and 15m; 1 minute for 2m; 15 minutes for 30m, 1h, 90m and 1d.
    /// </summary>
    public static TimeSpan AlignmentOf(TimeSpan barSize)
    {
        var (a, b) = (barSize.Ticks, SessionGrid.Ticks);
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return TimeSpan.FromTicks(a);
    }

    private static TimeSpan SessionGrid => TimeSpan.FromMinutes(15);

    /// <summary>Returns <see cref="Valid"/> or the id (index in <see cref="Names"/>) of the first rule the row breaks.</summary>
    /// <param name="adjClose">The adjusted close, null when the provider does not report one (Yahoo's intraday bars).</param>
    public int Check(long barStartTicks, bool tickerInJob, double open, double high, double low, double close, double? adjClose, long volume)
    {
        // NaN (a null price) fails every comparison; +Infinity is caught by the finiteness checks (one per price: a sum
        // of large finite prices can overflow to infinity). The adjusted close may be absent, but not zero, negative,
        // NaN or infinite; it has no bound against the close (dividends and splits move it either way).
        if (!(open > 0 && high > 0 && low > 0 && close > 0)
            || !(double.IsFinite(open) && double.IsFinite(high) && double.IsFinite(low) && double.IsFinite(close))
            || (adjClose is { } adj && !(adj > 0 && double.IsFinite(adj))))
        {
            return 1;
        }

        if (!(low <= open && low <= close && open <= high && close <= high))
        {
            return 2;
        }

        if (volume < 0)
        {
            return 3;
        }

        if (volume > MaxVolume)
        {
            return 4;
        }

        if (barStartTicks % _alignmentTicks != 0)
        {
            return 5;
        }

        if (barStartTicks > _nowTicks - _barTicks)
        {
            return 6;
        }

        return tickerInJob ? Valid : 7;
    }

    /// <summary>The quarantine's <c>reason</c>: the rule in words with the values that broke it.</summary>
    public string Describe(int rule, DateTime barStart, string ticker, double open, double high, double low, double close, double? adjClose, long volume) => rule switch
    {
        1 => adjClose is { } adj
            ? string.Create(CultureInfo.InvariantCulture, $"prices must be positive, finite and non-null, adj_close too when present (o={open} h={high} l={low} c={close} adj={adj})")
            : string.Create(CultureInfo.InvariantCulture, $"prices must be positive, finite and non-null (o={open} h={high} l={low} c={close})"),
        2 => string.Create(CultureInfo.InvariantCulture, $"need low <= open, close <= high (o={open} h={high} l={low} c={close})"),
        3 => string.Create(CultureInfo.InvariantCulture, $"volume {volume} is negative"),
        4 => string.Create(CultureInfo.InvariantCulture, $"volume {volume} is above {MaxVolume}, more than any market trades in a bar (gold's hourly sum would overflow)"),
        5 => string.Create(CultureInfo.InvariantCulture, $"bar start {barStart:O} is not aligned to {Alignment.TotalMinutes} minutes"),
        6 => string.Create(CultureInfo.InvariantCulture, $"bar {barStart:O} has not completed at {Now:O}"),
        7 => $"ticker '{ticker}' is not in the job's list",
        8 => string.Create(CultureInfo.InvariantCulture, $"({ticker}, {barStart:O}) appears again later among this bronze object's valid rows, and that later row supersedes this one (the last valid occurrence is kept, the provider's restatement)"),
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "unknown rule id"),
    };
}
