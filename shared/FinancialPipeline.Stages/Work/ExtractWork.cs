using System.Collections.Concurrent;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Runner;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// Bronze: fetches the job's tickers for its window from the configured provider and writes one raw Parquet
/// object at <c>financial_quotes/ingest_date=…/execution_id=…/part-00000.parquet</c> (ingest_date is the UTC date
/// of the pinned window end, so a retry overwrites the same object). A ticker whose response reports a stock split while
/// silver holds its bars on the old basis is fetched again over that history (<see cref="SplitRestatement"/>): the
/// object then holds bars before the window too, and its touched dates name them.
/// </summary>
public sealed partial class ExtractWork(
    IEnumerable<IQuoteProvider> providers,
    IObjectStore store,
    ExecutionLedger ledger,
    TimeProvider time,
    ILogger<ExtractWork> logger) : IStageWork
{
    private const int MaxConcurrentTickers = 8;

    /// <summary>Transiently failed tickers a stage error names; the rest are counted (the error goes to the ledger and the alert).</summary>
    private const int MaxTickersNamed = 5;

    private const int MaxErrorCharsPerTicker = 200;

    public Stage Stage => Stage.Bronze;

    /// <summary>Only a start message's explicit (backfill) window is checked before the claim.</summary>
    public static bool ChecksBeforeClaim(StageInput input) => input.RequestedWindow is not null;

    /// <summary>
    /// An explicit window that can never run is rejected before the claim (field <c>window.start</c> or
    /// <c>window.end</c>): no bar the provider serves (in the future, or older than its reach), shorter than a bar, or
    /// more rows than one run holds (<see cref="ExtractWindows.MaxWindowRows"/>). A window that is only partly
    /// fetchable runs, clamped, and is pinned at its first attempt as usual.
    /// </summary>
    public void RejectUnrunnable(JobConfig job, StageInput input)
    {
        if (input.RequestedWindow is not { } requested)
        {
            return;
        }

        try
        {
            _ = ExtractWindows.Backfill(job, requested, time.GetUtcNow(), QuoteProviders.For(providers, job));
        }
        catch (Exception ex) when (ex is JobConfigException or ArgumentException)
        {
            // A row naming a provider or bar size that cannot be served is a broken job, not a bad message: the claimed
            // run fails on it (FAILED, retried, dead-lettered), as it does for an incremental window.
        }
    }

    public async Task<StageOutcome> ExecuteAsync(StageContext context)
    {
        var job = context.Job;
        var ct = context.CancellationToken;
        var provider = QuoteProviders.For(providers, job);
        var requested = context.Input.RequestedWindow;
        var plan = requested is { } explicitWindow
            ? ExtractWindows.Backfill(job, explicitWindow, time.GetUtcNow(), provider)
            : ExtractWindows.Incremental(job, await ledger.LastSuccessfulWindowAsync(job.JobName, Stage.Bronze, context.Lease.ExecutionId, ct), time.GetUtcNow(), provider.MaxLookback(job.BarSize));
        if (plan.Note is { } note)
        {
            LogWindowClamped(logger, context.Lease.ExecutionId, job.JobName, note);
        }

        var window = await context.PinWindowAsync(plan.Window, backfill: requested is not null);
        var (fetch, aged) = ExtractWindows.WithinReach(job, window, time.GetUtcNow(), provider.MaxLookback(job.BarSize));
        if (aged is not null)
        {
            LogWindowClamped(logger, context.Lease.ExecutionId, job.JobName, aged);
        }

        var results = new ConcurrentBag<TickerQuotes>();
        await Parallel.ForEachAsync(job.Tickers, new ParallelOptions { MaxDegreeOfParallelism = MaxConcurrentTickers, CancellationToken = ct }, async (ticker, token) =>
        {
            try
            {
                results.Add(await provider.FetchAsync(ticker, fetch, job.BarSize, token));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The provider reports what it expects in the result; what it throws is unexpected: I/O is retried with
                // the window, anything else reported as this ticker's failure (TickerQuotes.UnexpectedFailure).
                results.Add(TickerQuotes.UnexpectedFailure(ticker, ex));
            }
        });

        if (TransientFailure(results, job.Tickers.Count) is { } transient)
        {
            // Written without these tickers, the run would become the next incremental window's anchor and their bars
            // past the overlap would be lost for good: fail, so Pub/Sub retries the pinned window (then dead-letters).
            throw new InvalidOperationException(transient);
        }

        var failed = results.Where(r => r.Failed).Select(r => r.Ticker).Order(StringComparer.Ordinal).ToList();
        if (failed.Count == job.Tickers.Count)
        {
            throw new InvalidOperationException($"all {failed.Count} tickers failed, e.g. {failed[0]}: {results.First(r => r.Ticker == failed[0]).Error}");
        }

        var byTicker = results.ToDictionary(r => r.Ticker, StringComparer.Ordinal);
        var restated = await new SplitRestatement(store, ledger, time, logger).RestateAsync(new StageContextInfo(context.Lease.ExecutionId, job), provider, fetch, byTicker, ct);
        var ingestedAt = time.GetUtcNow();
        var rows = byTicker.Values
            .Where(r => !r.Failed)
            .SelectMany(r => r.Bars)
            .OrderBy(b => b.Ticker, StringComparer.Ordinal).ThenBy(b => b.Timestamp)
            .Select(b => new BarRecord(b, context.Lease.ExecutionId, ingestedAt, provider.Name))
            .ToList();
        var objectName = ObjectLayout.BronzeObject(window.End, context.Lease.ExecutionId);
        using var buffer = new MemoryStream();
        await BarParquet.WriteAsync(buffer, rows, cancellationToken: ct);
        buffer.Position = 0;
        await context.EnsureOwnedAsync();
        var stored = await store.UploadObjectAsync(job.BucketName, objectName, "application/vnd.apache.parquet", buffer, cancellationToken: ct);

        var written = byTicker.Values.Where(r => !r.Failed).OrderBy(r => r.Ticker, StringComparer.Ordinal).ToList();
        foreach (var r in written.Where(r => r.DroppedBars > 0))
        {
            LogBarsDropped(logger, context.Lease.ExecutionId, job.JobName, r.Ticker, r.NullBars, r.DuplicateBars);
        }

        var dropped = written.Sum(r => r.DroppedBars);
        return new StageOutcome(
            window,
            new RecordCounts(rows.Count + dropped, rows.Count, dropped),
            [stored.Uri],
            rows.Select(r => ObjectLayout.DateKey(r.Bar.Timestamp)).Distinct().Order(StringComparer.Ordinal).ToList(),
            new Dictionary<string, long>
            {
                ["tickers_requested"] = job.Tickers.Count,
                ["tickers_failed"] = failed.Count,
                ["bars_dropped"] = dropped,
                ["bars_dropped_null"] = written.Sum(r => r.NullBars),
                ["bars_dropped_duplicate"] = written.Sum(r => r.DuplicateBars),
                ["window_clamped"] = plan.Note is null && aged is null ? 0 : 1,
                ["splits_detected"] = restated.SplitsDetected,
                ["tickers_refetched"] = restated.TickersRefetched,
                ["split_refetch_bars"] = restated.BarsRefetched,
                ["split_refetch_incomplete"] = restated.Incomplete,
                ["splits_already_restated"] = restated.AlreadyRestated,
            },
            failed,
            rows.Count == 0 ? null : rows.Max(r => r.Bar.Timestamp))
        {
            RestatedSplits = restated.Restated,
        };
    }

    /// <summary>
    /// Why the run must fail because some tickers failed transiently (naming the first few with their errors), or null
    /// when none did.
    /// </summary>
    public static string? TransientFailure(IEnumerable<TickerQuotes> results, int tickerCount)
    {
        var transient = results.Where(r => r.FailedTransiently).OrderBy(r => r.Ticker, StringComparer.Ordinal).ToList();
        if (transient.Count == 0)
        {
            return null;
        }

        var named = string.Join("; ", transient.Take(MaxTickersNamed).Select(r => $"{r.Ticker}: {Shorten(r.Error!)}"));
        var more = transient.Count > MaxTickersNamed ? $"; and {transient.Count - MaxTickersNamed} more" : string.Empty;
        return $"{transient.Count} of {tickerCount} tickers failed transiently ({named}{more}); failing so Pub/Sub retries the window";

        static string Shorten(string error) => error.Length <= MaxErrorCharsPerTicker ? error : string.Concat(error.AsSpan(0, MaxErrorCharsPerTicker), "…");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "execution {ExecutionId} of job {JobName}: {Ticker} dropped {NullBars} bar(s) with a null value and {DuplicateBars} replaced by a later bar of the same timestamp")]
    private static partial void LogBarsDropped(ILogger logger, Guid executionId, string jobName, string ticker, int nullBars, int duplicateBars);

    [LoggerMessage(Level = LogLevel.Warning, Message = "execution {ExecutionId} of job {JobName}: {Note}")]
    private static partial void LogWindowClamped(ILogger logger, Guid executionId, string jobName, string note);
}
