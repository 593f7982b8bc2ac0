using System.Globalization;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;

namespace FinancialPipeline.Stages.Work;

/// <summary>The window an extraction fetches, and why it differs from what was asked, if it does.</summary>
public sealed record ExtractWindowPlan(TimeWindow Window, string? Note);

/// <summary>
/// Extraction windows, all in UTC. Bars are identified by their start; a window [start, end) holds the bars that
/// start in it.
/// <list type="bullet">
/// <item>The end of an incremental window is the end of the last completed bar: bars starting before
/// <c>now − bar size</c> (to the minute) have closed, the live one has not and is never fetched.</item>
/// <item>Its start is the previous incremental window's end minus the job's overlap, so consecutive windows share
/// exactly the overlap and leave no gap, whatever the schedule did (missed runs, weekends, DST: all UTC).</item>
/// <item>A first run looks back the job's lookback; both are clamped to what the provider serves.</item>
/// <item>A backfill's explicit window is honoured, clamped to completed bars and to the provider's reach (never
/// before <see cref="EarliestBar"/>); a window entirely outside both, one shorter than a bar, or one holding more than
/// <see cref="MaxWindowRows"/> bars of the job's tickers is refused.</item>
/// </list>
/// </summary>
public static class ExtractWindows
{
    /// <summary>
    /// The reach of every provider, also of one without a <see cref="IQuoteProvider.MaxLookback"/> (the synthetic one):
    /// providers take their windows in Unix seconds, and no market-data API serves intraday bars from before it.
    /// </summary>
    public static readonly DateTimeOffset EarliestBar = DateTimeOffset.UnixEpoch;

    /// <summary>
    /// The most bars (of every ticker of the job) one explicit window may hold. Extract holds a window's bars in memory
    /// three times over (the provider's answers, the rows, the Parquet object): a 1800–2026 synthetic window of 3.97 M
    /// rows took the host to 2.9 GB, ≈730 bytes a row, and the deployment gives Extract 512 MiB. 250,000 rows is
    /// ≈180 MB beside the runtime's ≈100 MB (measured: one such window peaked at ≈390 MB RSS, two at ≈615 MB, so the
    /// deployment runs one Extract run per instance). Bars are counted as the window's length over the bar size, every hour of
    /// every day (a 24/7 market such as BTC-USD fills them all; an equity session fills about a fifth).
    /// </summary>
    public const long MaxWindowRows = 250_000;

    /// <summary>Kept between the provider's documented reach and our start: the window is fetched minutes later.</summary>
    private static readonly TimeSpan ReachMargin = TimeSpan.FromHours(1);

    /// <summary>
    /// The longest whole-day window of <paramref name="job"/>'s bars and tickers within <see cref="MaxWindowRows"/>;
    /// 0 when one day already holds more.
    /// </summary>
    public static int MaxWindowDays(JobConfig job) => (int)Math.Min(int.MaxValue, MaxWindowLength(job).Ticks / TimeSpan.TicksPerDay);

    /// <summary>The longest window of <paramref name="job"/>'s bars and tickers within <see cref="MaxWindowRows"/>, in whole bars.</summary>
    public static TimeSpan MaxWindowLength(JobConfig job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return job.BarSize * (MaxWindowRows / job.Tickers.Count);
    }

    /// <summary>The end of the last completed bar as of <paramref name="now"/>.</summary>
    public static DateTimeOffset CompletedEnd(TimeSpan barSize, DateTimeOffset now)
    {
        var utc = now.ToUniversalTime();
        var minute = new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
        return minute - barSize;
    }

    public static ExtractWindowPlan Incremental(JobConfig job, TimeWindow? lastSuccess, DateTimeOffset now, TimeSpan? providerReach)
    {
        var end = CompletedEnd(job.BarSize, now);
        var start = lastSuccess is { } last ? last.End - job.Overlap : end - job.Lookback;
        if (start >= end)
        {
            // Runs closer together than the overlap: still re-fetch the last completed bar rather than nothing.
            start = end - job.BarSize;
        }

        string? note = null;
        if (providerReach is { } reach && ReachStart(now, reach) is var clamped && start < clamped)
        {
            note = $"window start {Format(start)} is older than provider {job.Provider} serves {job.BarInterval} bars ({reach.TotalDays:0} days); starting at {Format(clamped)} instead"
                + (lastSuccess is null ? " (first run: lower lookback_seconds)" : " (the gap since the last successful window cannot be fetched)");
            start = clamped;
        }

        // A long gap (a first run's lookback, days of outage) may hold more rows than one run holds: this run takes the
        // first MaxWindowRows of it and the next ones continue from its end, an hour's run at a time, until caught up.
        // Only when that moves forward: a job whose steady window (overlap + a bar) is already too large runs whole.
        var fits = MaxWindowLength(job);
        if (end - start > fits && fits > job.Overlap + job.BarSize)
        {
            var caughtUpTo = start + fits;
            note = (note is null ? string.Empty : note + "; ")
                + string.Create(CultureInfo.InvariantCulture, $"window {Format(start)} → {Format(end)} holds more than the {MaxWindowRows:N0} rows one run holds; ending at {Format(caughtUpTo)}, the next runs continue from there");
            end = caughtUpTo;
        }

        return new ExtractWindowPlan(new TimeWindow(start, end), note);
    }

    /// <summary>The window Extract fetches for an explicit (backfill) request to <paramref name="provider"/>.</summary>
    /// <exception cref="MessageRejectedException">The window holds no bar the provider can serve (permanent).</exception>
    public static ExtractWindowPlan Backfill(JobConfig job, TimeWindow requested, DateTimeOffset now, IQuoteProvider provider)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(provider);
        return Backfill(job, requested, now, provider.MaxLookback(job.BarSize));
    }

    /// <exception cref="MessageRejectedException">
    /// The window can never run (permanent): a bound finer than the ledger's microseconds, shorter than one bar, no bar the
    /// provider can serve, or more bars than <see cref="MaxWindowRows"/> once clamped.
    /// </exception>
    public static ExtractWindowPlan Backfill(JobConfig job, TimeWindow requested, DateTimeOffset now, TimeSpan? providerReach)
    {
        ArgumentNullException.ThrowIfNull(job);
        StartMessage.RequireMicroseconds(requested);
        if (requested.Duration < job.BarSize)
        {
            throw new MessageRejectedException("window.end", $"{Format(requested.End)} is less than one {job.BarInterval} bar after window.start {Format(requested.Start)}: a window holds whole bars");
        }

        var completed = CompletedEnd(job.BarSize, now);
        var reachStart = providerReach is { } reach ? ReachStart(now, reach) : EarliestBar;
        var earliest = reachStart > EarliestBar ? reachStart : EarliestBar;
        if (requested.Start >= completed)
        {
            throw new MessageRejectedException("window.start", $"{Format(requested.Start)} is not before the end of the last completed {job.BarInterval} bar ({Format(completed)})");
        }

        if (requested.End <= earliest)
        {
            throw new MessageRejectedException("window.end", $"{Format(requested.End)} is older than provider {job.Provider} serves {job.BarInterval} bars (from {Format(earliest)})");
        }

        var start = requested.Start < earliest ? earliest : requested.Start;
        var end = requested.End > completed ? completed : requested.End;
        var notes = new List<string>();
        if (start != requested.Start)
        {
            notes.Add($"backfill start {Format(requested.Start)} moved to {Format(start)}: provider {job.Provider} serves {job.BarInterval} bars only that far back");
        }

        if (end != requested.End)
        {
            notes.Add($"backfill end {Format(requested.End)} moved to {Format(end)}: later bars have not completed");
        }

        var window = new TimeWindow(start, end);
        RejectTooLarge(job, window);
        return new ExtractWindowPlan(window, notes.Count == 0 ? null : string.Join("; ", notes));
    }

    /// <exception cref="MessageRejectedException">The (clamped) window holds more than <see cref="MaxWindowRows"/> bars of the job's tickers.</exception>
    private static void RejectTooLarge(JobConfig job, TimeWindow window)
    {
        var bars = BarsIn(window, job.BarSize);
        var rows = bars * job.Tickers.Count;
        if (rows <= MaxWindowRows)
        {
            return;
        }

        var fits = window.Start + MaxWindowLength(job);
        var days = MaxWindowDays(job);
        throw new MessageRejectedException(
            "window.end",
            string.Create(CultureInfo.InvariantCulture, $"window {Format(window.Start)} → {Format(window.End)} can hold {bars:N0} {job.BarInterval} bars of {job.Tickers.Count} ticker(s), {rows:N0} rows; one Extract run holds at most {MaxWindowRows:N0}: end it by {Format(fits)}, or split the range (")
            + (days > 0 ? $"fp backfill --window-days {days})" : $"a day already holds more: fewer tickers per job, or a larger bar_interval)"));
    }

    /// <summary>
    /// The part of an already pinned window the provider still serves at <paramref name="now"/>. A window pinned near the
    /// edge of the provider's reach (a backfill clamped to it) and fetched again later (a retry, a redelivery, a replay)
    /// may have aged past that edge: its oldest bars are fetched from the edge on, with a note, instead of every ticker
    /// failing the provider's own reach check on every later attempt.
    /// </summary>
    /// <exception cref="InvalidOperationException">The whole window has aged out: none of its bars can be fetched any more.</exception>
    public static (TimeWindow Fetch, string? Note) WithinReach(JobConfig job, TimeWindow pinned, DateTimeOffset now, TimeSpan? providerReach)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (providerReach is not { } reach)
        {
            return (pinned, null);
        }

        var earliest = ReachStart(now, reach);
        if (pinned.Start >= earliest)
        {
            return (pinned, null);
        }

        if (pinned.End <= earliest)
        {
            throw new InvalidOperationException(
                $"the pinned window {Format(pinned.Start)}..{Format(pinned.End)} is now wholly older than provider {job.Provider} serves {job.BarInterval} bars (from {Format(earliest)}): its bars can no longer be fetched");
        }

        return (new TimeWindow(earliest, pinned.End), $"pinned window start {Format(pinned.Start)} is now older than provider {job.Provider} serves {job.BarInterval} bars: fetching from {Format(earliest)}; the bars before it are lost to this run");
    }

    /// <summary>The oldest instant Extract asks a provider that serves <paramref name="reach"/> of history for at <paramref name="now"/>: <see cref="ReachMargin"/> inside it.</summary>
    internal static DateTimeOffset ReachStart(DateTimeOffset now, TimeSpan reach) => now - reach + ReachMargin;

    /// <summary>How many bars of <paramref name="barSize"/> a window can hold (a partial bar counts).</summary>
    internal static long BarsIn(TimeWindow window, TimeSpan barSize) => (window.Duration.Ticks + barSize.Ticks - 1) / barSize.Ticks;

    internal static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
