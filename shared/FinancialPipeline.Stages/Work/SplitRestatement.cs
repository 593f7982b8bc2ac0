using System.Globalization;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Stages.Work;

/// <summary>What <see cref="SplitRestatement"/> did in one Extract run: becomes the completion event's metrics.</summary>
/// <param name="SplitsDetected">Split events the fetched tickers' responses reported.</param>
/// <param name="TickersRefetched">Tickers whose stored history was re-fetched on the new basis.</param>
/// <param name="BarsRefetched">Bars those re-fetches returned before the run's window.</param>
/// <param name="Incomplete">Tickers whose old-basis bars could not all be re-fetched (beyond the provider's reach, the row cap, or a failed request).</param>
public sealed record SplitRestatementResult(int SplitsDetected, int TickersRefetched, long BarsRefetched, int Incomplete)
{
    public static SplitRestatementResult None { get; } = new(0, 0, 0, 0);
}

/// <summary>
/// Restates a ticker's stored bars after a stock split. A provider whose prices are split-adjusted as of the request
/// (Yahoo's chart) serves every bar before a split on the new basis once it takes effect, while the bars silver stored
/// earlier stay on the old one: gold's <c>return_pct</c> would show a 4:1 split as −75 %. When a ticker's response
/// reports a split and silver holds bars of it from before the run's window that were ingested before the split took
/// effect, the ticker is fetched again from the first such bar to the window's end: those bars reach bronze with this
/// run's ingestion time, silver's newest-ingestion-wins replaces the old-basis rows, and gold MERGEs every date silver
/// touched. Bars ingested after the split are on the new basis already, so once restated a ticker is not fetched again
/// by the next runs that still see the split. What cannot be re-fetched (older than the provider serves, more rows than one run holds,
/// a failed request) is logged as an error and counted in <c>split_refetch_incomplete</c>.
/// </summary>
public sealed partial class SplitRestatement(IObjectStore store, TimeProvider time, ILogger logger)
{
    /// <summary>Silver partitions read at a time while looking for old-basis bars.</summary>
    private const int PartitionsPerBatch = 8;

    /// <summary>
    /// Replaces, in <paramref name="results"/>, each ticker with old-basis history by its re-fetch over
    /// [first old-basis bar, window end).
    /// </summary>
    /// <exception cref="InvalidOperationException">A re-fetch failed transiently: the run fails so Pub/Sub retries the window.</exception>
    public async Task<SplitRestatementResult> RestateAsync(
        StageContextInfo run, IQuoteProvider provider, TimeWindow fetch, Dictionary<string, TickerQuotes> results, CancellationToken ct)
    {
        var job = run.Job;
        var split = results.Values
            .Where(r => !r.Failed && r.Splits.Count > 0)
            .ToDictionary(r => r.Ticker, r => r.Splits[^1], StringComparer.Ordinal);
        if (split.Count == 0)
        {
            return SplitRestatementResult.None;
        }

        var detected = results.Values.Where(q => !q.Failed).Sum(q => q.Splits.Count);

        foreach (var (ticker, s) in split.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            LogSplitSeen(logger, run.ExecutionId, job.JobName, ticker, s.Ratio, s.Date.UtcDateTime);
        }

        // Bars inside the window are fetched anyway; only the older ones need a re-fetch.
        var staleFrom = await FirstOldBasisBarsAsync(job.SilverBucketName, split.ToDictionary(p => p.Key, p => p.Value.Date < fetch.Start ? p.Value.Date : fetch.Start, StringComparer.Ordinal), split, ct);
        var now = time.GetUtcNow();
        var reach = provider.MaxLookback(job.BarSize);
        var reachStart = reach is { } r ? ExtractWindows.ReachStart(now, r) : ExtractWindows.EarliestBar;
        var rows = ExtractWindows.BarsIn(fetch, job.BarSize) * job.Tickers.Count;
        int refetched = 0, incomplete = 0;
        long barsRefetched = 0;
        foreach (var (ticker, from) in staleFrom.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var s = split[ticker];
            var start = from < reachStart ? reachStart : from;
            if (start >= fetch.Start)
            {
                incomplete++;
                LogIncomplete(logger, run.ExecutionId, job.JobName, ticker, s.Ratio, s.Date.UtcDateTime, ExtractWindows.Format(from), ExtractWindows.Format(fetch.Start),
                    $"provider {job.Provider} serves {job.BarInterval} bars only from {ExtractWindows.Format(reachStart)}");
                continue;
            }

            var extra = ExtractWindows.BarsIn(new TimeWindow(start, fetch.Start), job.BarSize);
            if (rows + extra > ExtractWindows.MaxWindowRows)
            {
                incomplete++;
                LogIncomplete(logger, run.ExecutionId, job.JobName, ticker, s.Ratio, s.Date.UtcDateTime, ExtractWindows.Format(from), ExtractWindows.Format(fetch.Start),
                    string.Create(CultureInfo.InvariantCulture, $"re-fetching them would take the run past the {ExtractWindows.MaxWindowRows:N0} rows one run holds"));
                continue;
            }

            var window = new TimeWindow(start, fetch.End);
            TickerQuotes again;
            try
            {
                again = await provider.FetchAsync(ticker, window, job.BarSize, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                again = TickerQuotes.UnexpectedFailure(ticker, ex);
            }

            if (again.FailedTransiently)
            {
                throw new InvalidOperationException($"{ticker} reported a {s.Ratio} split and its re-fetch over {window} failed transiently ({again.Error}); failing so Pub/Sub retries the window");
            }

            if (again.Failed)
            {
                incomplete++;
                LogIncomplete(logger, run.ExecutionId, job.JobName, ticker, s.Ratio, s.Date.UtcDateTime, ExtractWindows.Format(from), ExtractWindows.Format(fetch.Start), $"the re-fetch failed: {again.Error}");
                continue;
            }

            rows += extra;
            refetched++;
            var before = again.Bars.LongCount(b => b.Timestamp < fetch.Start);
            barsRefetched += before;
            results[ticker] = again;
            LogRefetched(logger, run.ExecutionId, job.JobName, ticker, s.Ratio, s.Date.UtcDateTime, ExtractWindows.Format(from), ExtractWindows.Format(window.Start), ExtractWindows.Format(window.End), before);
            if (start > from)
            {
                incomplete++;
                LogIncomplete(logger, run.ExecutionId, job.JobName, ticker, s.Ratio, s.Date.UtcDateTime, ExtractWindows.Format(from), ExtractWindows.Format(start),
                    $"provider {job.Provider} serves {job.BarInterval} bars only from {ExtractWindows.Format(reachStart)}");
            }
        }

        return new SplitRestatementResult(detected, refetched, barsRefetched, incomplete);
    }

    /// <summary>
    /// For each ticker, its first silver bar that starts before <paramref name="before"/> and was ingested before its
    /// split's date (so on the old basis); tickers without one are left out. Partitions are read oldest first, a batch at
    /// a time, until every ticker has one.
    /// </summary>
    private async Task<Dictionary<string, DateTimeOffset>> FirstOldBasisBarsAsync(
        string silverBucket, IReadOnlyDictionary<string, DateTimeOffset> before, IReadOnlyDictionary<string, StockSplit> split, CancellationToken ct)
    {
        var last = DateOnly.FromDateTime(before.Values.Max().UtcDateTime);
        var partitions = new SortedDictionary<DateOnly, string>();
        await foreach (var o in store.ListObjectsAsync(silverBucket, ObjectLayout.SilverRootPrefix, cancellationToken: ct))
        {
            if (ObjectLayout.TryParseSilverDate(o.Name, out var date) && date <= last && o.Name.EndsWith(".parquet", StringComparison.Ordinal))
            {
                partitions[date] = o.Name;
            }
        }

        var found = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var batch in partitions.Values.Chunk(PartitionsPerBatch))
        {
            var read = await Task.WhenAll(batch.Select(name => ReadPartitionAsync(silverBucket, name, ct)));
            foreach (var row in read.SelectMany(rows => rows))
            {
                var ticker = row.Bar.Ticker;
                if (before.TryGetValue(ticker, out var limit) && row.Bar.Timestamp < limit && row.IngestedAt < split[ticker].Date
                    && (!found.TryGetValue(ticker, out var first) || row.Bar.Timestamp < first))
                {
                    found[ticker] = row.Bar.Timestamp;
                }
            }

            if (found.Count == before.Count)
            {
                break;
            }
        }

        return found;
    }

    private async Task<List<BarRecord>> ReadPartitionAsync(string bucket, string name, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        try
        {
            await store.DownloadObjectAsync(bucket, name, buffer, ct);
        }
        catch (ObjectNotFoundException)
        {
            return [];
        }

        buffer.Position = 0;
        return await BarParquet.ReadAsync(buffer, ct);
    }


    [LoggerMessage(Level = LogLevel.Information, Message = "execution {ExecutionId} of job {JobName}: {Ticker} reports a {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}")]
    private static partial void LogSplitSeen(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "execution {ExecutionId} of job {JobName}: {Ticker} {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}: silver holds bars from {OldBasisFrom} on the old basis; re-fetched {RefetchFrom} → {RefetchTo} ({BarsRefetched} bars before the window) so they are restated on the new basis")]
    private static partial void LogRefetched(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate, string oldBasisFrom, string refetchFrom, string refetchTo, long barsRefetched);

    [LoggerMessage(Level = LogLevel.Error, Message = "execution {ExecutionId} of job {JobName}: {Ticker} {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}: bars {OldBasisFrom} → {OldBasisTo} stay on the old basis, {Reason}: gold's return_pct jumps where they meet the restated bars (see README, Known limits)")]
    private static partial void LogIncomplete(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate, string oldBasisFrom, string oldBasisTo, string reason);
}

/// <summary>The run a <see cref="SplitRestatement"/> works for.</summary>
public sealed record StageContextInfo(Guid ExecutionId, JobConfig Job);
