using System.CommandLine;
using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Stages.Operations;
using FinancialPipeline.Stages.Work;

namespace FinancialPipeline.Cli;

/// <summary><c>fp backfill</c>: one execution per provider-sized window, bounded in flight, resumable.</summary>
internal static class BackfillCommand
{
    public static Command Create()
    {
        var job = new Option<string>("--job") { Description = "Job name", DefaultValueFactory = _ => "financial_extract" }.JobName();
        var from = new Option<string>("--from") { Description = "First day, UTC (yyyy-MM-dd)", Required = true };
        var to = new Option<string>("--to") { Description = "Day after the last one, UTC (yyyy-MM-dd, exclusive)", Required = true };
        var windowDays = CheckedOptions.WholeNumber("--window-days", "Days per execution (capped by the provider's request span)", defaultValue: 7, min: 1);
        var maxInFlight = CheckedOptions.WholeNumber("--max-in-flight", "Executions running at once", defaultValue: 2, min: 1);
        var timeout = CheckedOptions.WholeNumber("--window-timeout", "Seconds a window may take", defaultValue: 600, min: 1, what: "a whole number of seconds");
        var command = new Command("backfill", "Backfill a date range, one execution per window; rerun to resume");
        foreach (var option in new Option[] { job, from, to, windowDays, maxInFlight, timeout })
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) => ExecuteAsync(
            parse.GetValue(job)!, parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(windowDays), parse.GetValue(maxInFlight), parse.GetValue(timeout), ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(string jobName, string fromText, string toText, int windowDays, int maxInFlight, int timeoutSeconds, CancellationToken ct)
    {
        if (!TryDay(fromText, "--from", out var from) || !TryDay(toText, "--to", out var to))
        {
            return 2;
        }

        if (to <= from)
        {
            Console.Error.WriteLine($"fp backfill: --to {toText} must be after --from {fromText} (--to is exclusive)");
            return 2;
        }

        await using var env = OperatorEnvironment.TryCreate("backfill");
        if (env is null)
        {
            return 2;
        }

        try
        {
            var (job, refusal) = await StartChecks.FindRunnableJobAsync(env.DataSource, jobName, ct);
            if (job is null)
            {
                Console.Error.WriteLine($"fp backfill: {refusal}");
                return 2;
            }

            var provider = env.ProviderFor(job);
            if (ExtractWindows.MaxWindowDays(job) is var fits && fits >= 1 && fits < windowDays)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"note: windows of at most {fits} day(s), not --window-days {windowDays}: more {job.BarInterval} bars of {job.Tickers.Count} tickers than one Extract run takes ({ExtractWindows.MaxWindowRows:N0} rows; it rejects a larger window)"));
            }

            var (windows, windowRefusal) = FetchableWindows(job, provider, Backfill.Split(job, provider, from, to, windowDays), env.Operator.Time.GetUtcNow());
            if (windows.Count == 0)
            {
                Console.Error.WriteLine($"fp backfill: nothing from {from:yyyy-MM-dd} to {to:yyyy-MM-dd} can be fetched: {windowRefusal}");
                return 2;
            }

            Console.WriteLine($"backfill of {jobName} {from:yyyy-MM-dd} → {to:yyyy-MM-dd}: {windows.Count} window(s), at most {maxInFlight} in flight");
            var done = 0;
            var results = await Backfill.RunAsync(
                env.Operator,
                new FinalFailures(new RejectedMessageStore(env.DataSource), new AlertNotificationStore(env.DataSource, env.Operator.Time)),
                jobName,
                windows,
                new BackfillOptions { MaxInFlight = maxInFlight, WindowTimeout = TimeSpan.FromSeconds(timeoutSeconds) },
                r => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{Interlocked.Increment(ref done)}/{windows.Count}] {r.Window} {r.ExecutionId} {r.State} {r.Elapsed.TotalSeconds:F1}s {r.Reason}")),
                ct);
            var failed = results.Count(r => r.State == BackfillWindowState.Failed);
            Console.WriteLine($"{results.Count(r => r.State == BackfillWindowState.Succeeded)} succeeded, {results.Count(r => r.State == BackfillWindowState.Skipped)} skipped (already done), {failed} failed");
            return failed == 0 ? 0 : 1;
        }
        catch (Exception ex) when (ex is ArgumentException or JobConfigException or MessageRejectedException)
        {
            Console.Error.WriteLine($"fp backfill: {ex.Message}");
            return 2;
        }
    }

    /// <summary>
    /// The windows Extract would run, checked as <c>fp publish</c> checks one: a window it would clamp stays, with a
    /// note; runs of windows it would reject (in the future, or older than the provider serves: only at the ends of the
    /// range) are left out with a note, so the rest runs. The refusal of the first window left out comes back too.
    /// </summary>
    private static (IReadOnlyList<TimeWindow> Windows, string? Refusal) FetchableWindows(JobConfig job, IQuoteProvider provider, IReadOnlyList<TimeWindow> windows, DateTimeOffset now)
    {
        var fetchable = new List<TimeWindow>();
        var leftOut = new List<(TimeWindow Window, string Refusal)>();
        foreach (var window in windows)
        {
            var (plan, refusal) = StartChecks.CheckWindow(job, provider, window, now);
            if (plan is null)
            {
                leftOut.Add((window, refusal!));
                continue;
            }

            fetchable.Add(window);
            if (plan.Note is { } note)
            {
                Console.WriteLine($"note: {window}: {note}");
            }
        }

        if (fetchable.Count > 0)
        {
            foreach (var run in leftOut.GroupBy(w => w.Window.End <= fetchable[0].Start))
            {
                var first = run.First();
                Console.WriteLine($"note: {first.Window.Start:yyyy-MM-dd} → {run.Last().Window.End:yyyy-MM-dd} left out ({run.Count()} window(s)), nothing in it can be fetched: {first.Refusal}");
            }
        }

        return (fetchable, leftOut.Count == 0 ? null : leftOut[0].Refusal);
    }

    private static bool TryDay(string text, string option, out DateTimeOffset day)
    {
        if (DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
        {
            day = new DateTimeOffset(d.Year, d.Month, d.Day, 0, 0, 0, TimeSpan.Zero);
            return true;
        }

        Console.Error.WriteLine($"fp backfill: {option} '{text}' must be a date yyyy-MM-dd (UTC)");
        day = default;
        return false;
    }
}
