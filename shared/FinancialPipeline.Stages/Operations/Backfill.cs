using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Stages.Work;

namespace FinancialPipeline.Stages.Operations;

public enum BackfillWindowState
{
    /// <summary>Gold was already SUCCESS before this run: not published again.</summary>
    Skipped,

    Succeeded,

    Failed,
}

public sealed record BackfillWindowResult(TimeWindow Window, Guid ExecutionId, BackfillWindowState State, string? Reason, TimeSpan Elapsed);

public sealed record BackfillOptions
{
    public int MaxInFlight { get; init; } = 2;

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>A window whose gold is not SUCCESS by then counts as failed.</summary>
    public TimeSpan WindowTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>A FAILED stage that Pub/Sub has not retried (same attempt) within this time fails the window.</summary>
    public TimeSpan FailedGrace { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// A backfill: the range is split into day-aligned windows the provider accepts in one request, each run as its own
/// execution with an id derived from (job, window). Running it again skips the windows whose gold already
/// succeeded and republishes the rest (the stages deduplicate by execution id), so it resumes after an interruption.
/// </summary>
public static class Backfill
{
    private static readonly Guid Namespace = new("5b0f3b7e-8d7c-4b8e-9a51-6f1d0c2e4a17");

    private static readonly TimeSpan ClockTolerance = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Day-aligned windows of at most <paramref name="windowDays"/> days, fewer when the job's provider serves its bar
    /// size in shorter requests (so each execution's window is one request per ticker), or when more days would hold
    /// more bars than one Extract run takes (<see cref="ExtractWindows.MaxWindowRows"/>, which Extract rejects).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A bound is not midnight UTC, the range is empty, <paramref name="windowDays"/> is below 1, or one day of the job's
    /// bars and tickers is already more than Extract takes.
    /// </exception>
    public static IReadOnlyList<TimeWindow> Split(JobConfig job, IQuoteProvider provider, DateTimeOffset from, DateTimeOffset to, int windowDays)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(provider);
        if (from.Offset != TimeSpan.Zero || from.TimeOfDay != TimeSpan.Zero)
        {
            throw new ArgumentException($"--from {from:O} must be a UTC date (midnight)", nameof(from));
        }

        if (to.Offset != TimeSpan.Zero || to.TimeOfDay != TimeSpan.Zero)
        {
            throw new ArgumentException($"--to {to:O} must be a UTC date (midnight)", nameof(to));
        }

        if (to <= from)
        {
            throw new ArgumentException($"--to {to:yyyy-MM-dd} must be after --from {from:yyyy-MM-dd}", nameof(to));
        }

        if (windowDays < 1)
        {
            throw new ArgumentException($"--window-days must be at least 1, got {windowDays}", nameof(windowDays));
        }

        var days = provider.MaxRequestSpan(job.BarSize) is { } span ? Math.Min(windowDays, Math.Max(1, (int)span.TotalDays)) : windowDays;
        var fits = ExtractWindows.MaxWindowDays(job);
        if (fits < 1)
        {
            throw new ArgumentException(
                $"one day of {job.BarInterval} bars of {job.Tickers.Count} tickers is more than the {ExtractWindows.MaxWindowRows} rows one Extract run takes (it would reject every window): split the job's tickers, or use a larger bar_interval",
                nameof(job));
        }

        days = Math.Min(days, fits);
        var windows = new List<TimeWindow>();
        var length = TimeSpan.FromDays(days);
        for (var start = from; start < to;)
        {
            // Compared as a span, not as start + span: a window ending near DateTimeOffset.MaxValue (--to 9999-12-31) would overflow.
            var end = to - start > length ? start + length : to;
            windows.Add(new TimeWindow(start, end));
            start = end;
        }

        return windows;
    }

    /// <summary>The execution id of (job, window): the same on every run of the backfill, so reruns resume.</summary>
    public static Guid ExecutionId(string jobName, TimeWindow window)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{jobName}|{window.Start.UtcTicks}|{window.End.UtcTicks}");
        var input = Namespace.ToByteArray(bigEndian: true).Concat(Encoding.UTF8.GetBytes(name)).ToArray();
        var hash = SHA256.HashData(input).AsSpan(0, 16).ToArray();
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80); // RFC 9562 version 8 (name-based, SHA-256)
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80); // variant 10
        return new Guid(hash, bigEndian: true);
    }

    /// <summary>
    /// Runs the windows, at most <see cref="BackfillOptions.MaxInFlight"/> at once; <paramref name="progress"/> hears
    /// of each window as it ends. A window fails as soon as its message is rejected or a stage is dead-lettered
    /// (<paramref name="finalFailures"/>), otherwise after <see cref="BackfillOptions.FailedGrace"/> of a FAILED stage
    /// not retried, or at <see cref="BackfillOptions.WindowTimeout"/>. Cancellation stops publishing and waiting; what
    /// is in flight still completes.
    /// </summary>
    public static async Task<IReadOnlyList<BackfillWindowResult>> RunAsync(
        PipelineOperator op,
        FinalFailures finalFailures,
        string jobName,
        IReadOnlyList<TimeWindow> windows,
        BackfillOptions options,
        Action<BackfillWindowResult>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxInFlight, 1);
        using var slots = new SemaphoreSlim(options.MaxInFlight);
        var tasks = windows.Select(async window =>
        {
            await slots.WaitAsync(cancellationToken);
            try
            {
                var result = await RunWindowAsync(op, finalFailures, jobName, window, options, cancellationToken);
                progress?.Invoke(result);
                return result;
            }
            finally
            {
                slots.Release();
            }
        }).ToList();
        return await Task.WhenAll(tasks);
    }

    private static async Task<BackfillWindowResult> RunWindowAsync(PipelineOperator op, FinalFailures finalFailures, string jobName, TimeWindow window, BackfillOptions options, CancellationToken ct)
    {
        var id = ExecutionId(jobName, window);
        var started = op.Time.GetTimestamp();
        if ((await op.Ledger.GetAsync(id, Stage.Gold, ct))?.Status == "SUCCESS")
        {
            return new BackfillWindowResult(window, id, BackfillWindowState.Skipped, null, TimeSpan.Zero);
        }

        // The functions stamp rejections and dead letters with their own clocks, which may run a little behind this one.
        var since = op.Time.GetUtcNow() - ClockTolerance;
        await op.PublishStartAsync(jobName, id, window, ct);
        (string Stage, int Attempt, long Since)? failing = null;
        while (true)
        {
            await Task.Delay(options.PollInterval, op.Time, ct);
            var elapsed = op.Time.GetElapsedTime(started);
            var rows = await op.Ledger.ListAsync(id, ct);
            if (rows.Any(r => r.Stage == StageNames.Gold && r.Status == "SUCCESS"))
            {
                return new BackfillWindowResult(window, id, BackfillWindowState.Succeeded, null, elapsed);
            }

            if (await finalFailures.ReasonAsync(id, rows, since, ct) is { } final)
            {
                return new BackfillWindowResult(window, id, BackfillWindowState.Failed, final, elapsed);
            }

            var failed = rows.FirstOrDefault(r => r.Status == "FAILED" && r.Error?.StartsWith(ExecutionLedger.ReplayMarker, StringComparison.Ordinal) != true);
            if (failed is null)
            {
                failing = null;
            }
            else if (failing is not { } f || f.Stage != failed.Stage || f.Attempt != failed.Attempt)
            {
                failing = (failed.Stage, failed.Attempt, op.Time.GetTimestamp());
            }
            else if (op.Time.GetElapsedTime(f.Since) >= options.FailedGrace)
            {
                return new BackfillWindowResult(window, id, BackfillWindowState.Failed, $"{failed.Stage} FAILED (attempt {failed.Attempt}): {failed.Error}", elapsed);
            }

            if (elapsed >= options.WindowTimeout)
            {
                return new BackfillWindowResult(window, id, BackfillWindowState.Failed, $"gold not SUCCESS after {options.WindowTimeout.TotalSeconds:F0}s", elapsed);
            }
        }
    }
}
