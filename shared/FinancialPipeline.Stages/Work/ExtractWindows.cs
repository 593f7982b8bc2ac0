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
/// <item>A backfill's explicit window is honoured, clamped to completed bars and to the provider's reach;
/// a window entirely outside both is refused.</item>
/// </list>
/// </summary>
public static class ExtractWindows
{
    /// <summary>Kept between the provider's documented reach and our start: the window is fetched minutes later.</summary>
    private static readonly TimeSpan ReachMargin = TimeSpan.FromHours(1);

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
        if (providerReach is { } reach && start < now - reach + ReachMargin)
        {
            var clamped = now - reach + ReachMargin;
            note = $"window start {Format(start)} is older than provider {job.Provider} serves {job.BarInterval} bars ({reach.TotalDays:0} days); starting at {Format(clamped)} instead"
                + (lastSuccess is null ? " (first run: lower lookback_seconds)" : " (the gap since the last successful window cannot be fetched)");
            start = clamped;
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

    /// <exception cref="MessageRejectedException">The window holds no bar the provider can serve (permanent).</exception>
    public static ExtractWindowPlan Backfill(JobConfig job, TimeWindow requested, DateTimeOffset now, TimeSpan? providerReach)
    {
        var completed = CompletedEnd(job.BarSize, now);
        var earliest = providerReach is { } reach ? now - reach + ReachMargin : DateTimeOffset.MinValue;
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

        return new ExtractWindowPlan(new TimeWindow(start, end), notes.Count == 0 ? null : string.Join("; ", notes));
    }

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
