using System.Globalization;
using FinancialPipeline.ControlDb;
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
/// <param name="AlreadyRestated">Tickers whose split <c>split_restatement</c> records as completely restated: silver was not read for them.</param>
/// <param name="Restated">What the run's SUCCESS commit records in <c>split_restatement</c>.</param>
public sealed record SplitRestatementResult(int SplitsDetected, int TickersRefetched, long BarsRefetched, int Incomplete, int AlreadyRestated, IReadOnlyList<RestatedSplit> Restated)
{
    public static SplitRestatementResult None { get; } = new(0, 0, 0, 0, 0, []);
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
/// <para>
/// Finding the old-basis bars lists the job's silver partitions and reads every one older than the split (or the window)
/// until each ticker has one, so a ticker already restated has its whole history read. The outcome per split is
/// therefore recorded in the control database (<c>split_restatement</c>), by the run's SUCCESS commit: a split recorded
/// as completely restated is skipped without reading silver (<c>splits_already_restated</c>); one recorded incomplete is
/// looked at again. A split is recorded complete only when no earlier bronze run that started before it is still on its
/// way to silver (its old-basis bars are not in silver yet, so the listing cannot see them).
/// </para>
/// </summary>
public sealed partial class SplitRestatement(IObjectStore store, ExecutionLedger ledger, TimeProvider time, ILogger logger)
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

        // A split restated completely by an earlier run needs no look at silver (the look reads its whole history).
        var done = (await ledger.RestatedSplitsAsync(job.JobName, split.Keys, ct))
            .Where(r => r.Split.Complete && split.TryGetValue(r.Split.Ticker, out var s) && s.Date == r.Split.SplitDate)
            .ToList();
        foreach (var row in done)
        {
            LogAlreadyRestated(logger, run.ExecutionId, job.JobName, row.Split.Ticker, split[row.Split.Ticker].Ratio, row.Split.SplitDate.UtcDateTime, row.RestatedBy, row.RestatedAt.UtcDateTime);
            split.Remove(row.Split.Ticker);
        }

        if (split.Count == 0)
        {
            return SplitRestatementResult.None with { SplitsDetected = detected, AlreadyRestated = done.Count };
        }

        // The earlier bronze runs not yet in silver are read BEFORE silver is listed: a silver stage writes its objects
        // before it commits SUCCESS, so a run settled at this point is visible to the listing below, and one that
        // settles while we list still counts as unsettled (it keeps its split from being recorded complete). The other
        // order let a silver run write after the listing and commit before the query, hiding its old-basis bars.
        var unsettled = await ledger.OldestUnsettledBronzeAsync(job.JobName, run.ExecutionId, ct);

        // Bars inside the window are fetched anyway; only the older ones need a re-fetch.
        var staleFrom = await FirstOldBasisBarsAsync(job.SilverBucketName, split.ToDictionary(p => p.Key, p => p.Value.Date < fetch.Start ? p.Value.Date : fetch.Start, StringComparer.Ordinal), split, ct);
        var now = time.GetUtcNow();
        var record = new Recorder(run, split, now, unsettled, logger);
        foreach (var ticker in split.Keys.Where(t => !staleFrom.ContainsKey(t)).Order(StringComparer.Ordinal))
        {
            record.Outcome(ticker, 0, complete: true); // silver holds none of its bars on the old basis
        }

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
                record.Outcome(ticker, 0, complete: false);
                continue;
            }

            var extra = ExtractWindows.BarsIn(new TimeWindow(start, fetch.Start), job.BarSize);
            if (rows + extra > ExtractWindows.MaxWindowRows)
            {
                incomplete++;
                LogIncomplete(logger, run.ExecutionId, job.JobName, ticker, s.Ratio, s.Date.UtcDateTime, ExtractWindows.Format(from), ExtractWindows.Format(fetch.Start),
                    string.Create(CultureInfo.InvariantCulture, $"re-fetching them would take the run past the {ExtractWindows.MaxWindowRows:N0} rows one run holds"));
                record.Outcome(ticker, 0, complete: false);
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
                record.Outcome(ticker, 0, complete: false);
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

            record.Outcome(ticker, before, complete: start <= from);
        }

        return new SplitRestatementResult(detected, refetched, barsRefetched, incomplete, done.Count, record.Restated);
    }

    /// <summary>Collects what the run's commit records in <c>split_restatement</c>, one outcome per ticker.</summary>
    /// <param name="unsettledSince">When the oldest earlier bronze run whose bars are not in silver yet started (see <see cref="ExecutionLedger.OldestUnsettledBronzeAsync"/>).</param>
    private sealed class Recorder(StageContextInfo run, IReadOnlyDictionary<string, StockSplit> split, DateTimeOffset now, DateTimeOffset? unsettledSince, ILogger logger)
    {
        private readonly List<RestatedSplit> _restated = [];

        public IReadOnlyList<RestatedSplit> Restated => _restated;

        public void Outcome(string ticker, long bars, bool complete)
        {
            var s = split[ticker];
            if (s.Date > now)
            {
                return; // not in effect yet: bars ingested until then are still on the old basis
            }

            if (complete && unsettledSince < s.Date)
            {
                // Its bars may be on the old basis and reach silver after this run looked: the next run looks again.
                LogUnsettled(logger, run.ExecutionId, run.Job.JobName, ticker, s.Ratio, s.Date.UtcDateTime, unsettledSince.Value.UtcDateTime);
                complete = false;
            }

            _restated.Add(new RestatedSplit(ticker, s.Date, s.Numerator, s.Denominator, bars, complete));
        }
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "execution {ExecutionId} of job {JobName}: {Ticker} {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ} was restated completely by execution {RestatedBy} at {RestatedAt:yyyy-MM-ddTHH:mm:ssZ}; silver is not read for it")]
    private static partial void LogAlreadyRestated(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate, Guid restatedBy, DateTime restatedAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "execution {ExecutionId} of job {JobName}: {Ticker} {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}: recorded as not yet restated completely, because a bronze run started {UnsettledSince:yyyy-MM-ddTHH:mm:ssZ} (before the split) has not reached silver; the next run that sees the split looks again")]
    private static partial void LogUnsettled(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate, DateTime unsettledSince);

    [LoggerMessage(Level = LogLevel.Information, Message = "execution {ExecutionId} of job {JobName}: {Ticker} reports a {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}")]
    private static partial void LogSplitSeen(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "execution {ExecutionId} of job {JobName}: {Ticker} {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}: silver holds bars from {OldBasisFrom} on the old basis; re-fetched {RefetchFrom} → {RefetchTo} ({BarsRefetched} bars before the window) so they are restated on the new basis")]
    private static partial void LogRefetched(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate, string oldBasisFrom, string refetchFrom, string refetchTo, long barsRefetched);

    [LoggerMessage(Level = LogLevel.Error, Message = "execution {ExecutionId} of job {JobName}: {Ticker} {SplitRatio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}: bars {OldBasisFrom} → {OldBasisTo} stay on the old basis, {Reason}: gold's return_pct jumps where they meet the restated bars (see README, Known limits)")]
    private static partial void LogIncomplete(ILogger logger, Guid executionId, string jobName, string ticker, string splitRatio, DateTime splitDate, string oldBasisFrom, string oldBasisTo, string reason);
}

/// <summary>The run a <see cref="SplitRestatement"/> works for.</summary>
public sealed record StageContextInfo(Guid ExecutionId, JobConfig Job);
