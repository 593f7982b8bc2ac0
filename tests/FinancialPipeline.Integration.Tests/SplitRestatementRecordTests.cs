using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// The record of restated splits (<c>split_restatement</c>) on the real control database and a real filesystem store:
/// a split restated completely is not looked for in silver again, an incomplete one is, only a committed SUCCESS records
/// one, and runs recording the same splits at once do not fail.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class SplitRestatementRecordTests(StackFixture stack) : IDisposable
{
    /// <summary>AAPL splits 4:1 at Wednesday 2026-11-18's open.</summary>
    private static readonly StockSplit Split = new(new DateTimeOffset(2026, 11, 18, 14, 30, 0, TimeSpan.Zero), 4, 1);

    /// <summary>The run's window: from Tuesday's last bars (the overlap) to Wednesday's close.</summary>
    private static readonly TimeWindow Fetch = new(new DateTimeOffset(2026, 11, 17, 18, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 18, 21, 0, 0, TimeSpan.Zero));

    private static readonly LedgerOptions Options = new() { StaleAfter = TimeSpan.FromSeconds(60), HeartbeatInterval = TimeSpan.FromSeconds(10) };

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("fp-split-record-");

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 18, 21, 5, 0, TimeSpan.Zero));

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public async Task AnIncompleteRestatementIsRetried_AndACompleteOneIsNotLookedForInSilverAgain()
    {
        var job = await stack.CreateJobAsync("AAPL,MSFT");
        var store = new CountingStore(new FileSystemObjectStore(_root.FullName), job.SilverBucketName);
        await WriteOldBasisSilverAsync(store, job);
        var provider = new RefetchProvider { Failing = true };
        var ledger = new ExecutionLedger(stack.DataSource, _clock, Options);
        var restatement = new SplitRestatement(store, ledger, _clock, NullLogger.Instance);

        // Run 1: silver holds AAPL on the old basis, and its re-fetch fails permanently: recorded, incomplete.
        var first = Guid.NewGuid();
        var one = await RunAsync(ledger, restatement, job, first, provider);
        Assert.Equal((1, 0, 1, 0), (one.SplitsDetected, one.TickersRefetched, one.Incomplete, one.AlreadyRestated));
        Assert.Equal(1, store.SilverListings);
        var row = Assert.Single(await ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None));
        Assert.Equal((job.JobName, "AAPL", Split.Date, 4.0, 1.0, 0L, false, first), (row.JobName, row.Split.Ticker, row.Split.SplitDate, row.Split.Numerator, row.Split.Denominator, row.Split.Bars, row.Split.Complete, row.RestatedBy));

        // Run 2 sees the split again: the incomplete record is looked at again, and the re-fetch now succeeds.
        provider.Failing = false;
        var second = Guid.NewGuid();
        var two = await RunAsync(ledger, restatement, job, second, provider);
        Assert.Equal((1, 1, 0, 0), (two.SplitsDetected, two.TickersRefetched, two.Incomplete, two.AlreadyRestated));
        Assert.True(two.BarsRefetched > 0);
        Assert.Equal(2, store.SilverListings);
        row = Assert.Single(await ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None));
        Assert.Equal((two.BarsRefetched, true, second), (row.Split.Bars, row.Split.Complete, row.RestatedBy));

        // Run 3 (a backfill over the split day, say): recorded complete, so silver is neither listed nor read, and nothing
        // is re-fetched. Silver still holds the old-basis bars here (no Transform ran): a look would have found them.
        var calls = provider.Calls;
        var (listings, downloads) = (store.SilverListings, store.SilverDownloads);
        var three = await RunAsync(ledger, restatement, job, Guid.NewGuid(), provider);
        Assert.Equal((1, 0, 0, 1, 0), (three.SplitsDetected, three.TickersRefetched, three.Incomplete, three.AlreadyRestated, three.Restated.Count));
        Assert.Equal((listings, downloads, calls), (store.SilverListings, store.SilverDownloads, provider.Calls));
        row = Assert.Single(await ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None));
        Assert.Equal((true, second), (row.Split.Complete, row.RestatedBy));
    }

    [Fact]
    public async Task ASplitIsNotRecordedComplete_WhileAnEarlierBronzeRunIsNotInSilverYet_NorByAnAttemptThatLostItsLease()
    {
        var job = await stack.CreateJobAsync("AAPL,MSFT");
        var store = new CountingStore(new FileSystemObjectStore(_root.FullName), job.SilverBucketName); // silver empty: nothing on the old basis
        var ledger = new ExecutionLedger(stack.DataSource, _clock, Options);
        var restatement = new SplitRestatement(store, ledger, _clock, NullLogger.Instance);

        // Tuesday's run wrote bronze, but its Transform has not run: its old-basis bars are not in silver yet.
        var tuesday = new ExecutionLedger(stack.DataSource, new FakeTimeProvider(new DateTimeOffset(2026, 11, 17, 21, 5, 0, TimeSpan.Zero)), Options);
        var pending = (await tuesday.ClaimAsync(new ClaimRequest(Guid.NewGuid(), Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        Assert.True(await tuesday.CompleteAsync(pending, new StageSuccess(new TimeWindow(Fetch.Start.AddHours(-3), Fetch.Start.AddHours(3)), [], 7, new Dictionary<string, long>(), "{}"), CancellationToken.None));

        var first = Guid.NewGuid();
        var one = await RunAsync(ledger, restatement, job, first, new RefetchProvider());
        Assert.Equal((0, 0), (one.TickersRefetched, one.Incomplete));
        var row = Assert.Single(await ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None));
        Assert.Equal((false, first), (row.Split.Complete, row.RestatedBy));

        // Its silver succeeds: the next run that sees the split looks again, and records it complete.
        var silver = (await tuesday.ClaimAsync(new ClaimRequest(pending.ExecutionId, Stage.Silver, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        Assert.True(await tuesday.CompleteAsync(silver, new StageSuccess(new TimeWindow(Fetch.Start.AddHours(-3), Fetch.Start.AddHours(3)), [], 7, new Dictionary<string, long>(), "{}"), CancellationToken.None));
        var second = Guid.NewGuid();
        await RunAsync(ledger, restatement, job, second, new RefetchProvider());
        Assert.Equal(2, store.SilverListings);
        row = Assert.Single(await ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None));
        Assert.Equal((true, 0L, second), (row.Split.Complete, row.Split.Bars, row.RestatedBy));

        // An attempt whose lease was taken over records nothing: its commit does not happen.
        var other = await stack.CreateJobAsync("AAPL");
        var lease = (await ledger.ClaimAsync(new ClaimRequest(Guid.NewGuid(), Stage.Bronze, other.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        _clock.Advance(TimeSpan.FromMinutes(2));
        Assert.NotNull((await ledger.ClaimAsync(new ClaimRequest(lease.ExecutionId, Stage.Bronze, other.JobName, null, null, null, null), CancellationToken.None)).Lease);
        Assert.False(await ledger.CompleteAsync(lease, Success([new RestatedSplit("AAPL", Split.Date, 4, 1, 12, true)]), CancellationToken.None));
        Assert.Empty(await ledger.RestatedSplitsAsync(other.JobName, other.Tickers, CancellationToken.None));
    }

    [Fact]
    public async Task AnEarlierRunWhoseSilverSettlesWhileSilverIsListed_KeepsTheSplitIncomplete()
    {
        // Tuesday's Transform writes its old-basis partition just after this run's listing and commits SUCCESS before the
        // run would look at the ledger: a run that read the ledger after listing saw Tuesday settled and nothing on the old
        // basis, and recorded the split complete, so no later run would ever restate Tuesday's bars.
        var job = await stack.CreateJobAsync("AAPL,MSFT");
        var store = new CountingStore(new FileSystemObjectStore(_root.FullName), job.SilverBucketName);
        var ledger = new ExecutionLedger(stack.DataSource, _clock, Options);
        var restatement = new SplitRestatement(store, ledger, _clock, NullLogger.Instance);
        var tuesday = new ExecutionLedger(stack.DataSource, new FakeTimeProvider(new DateTimeOffset(2026, 11, 17, 21, 5, 0, TimeSpan.Zero)), Options);
        var pending = (await tuesday.ClaimAsync(new ClaimRequest(Guid.NewGuid(), Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        var window = new TimeWindow(Fetch.Start.AddHours(-3), Fetch.Start.AddHours(3));
        Assert.True(await tuesday.CompleteAsync(pending, new StageSuccess(window, [], 7, new Dictionary<string, long>(), "{}"), CancellationToken.None));
        var silver = (await tuesday.ClaimAsync(new ClaimRequest(pending.ExecutionId, Stage.Silver, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        store.AfterSilverListing = async () =>
        {
            await WriteOldBasisSilverAsync(store, job);
            Assert.True(await tuesday.CompleteAsync(silver, new StageSuccess(window, [], 7, new Dictionary<string, long>(), "{}"), CancellationToken.None));
        };

        var run = Guid.NewGuid();
        await RunAsync(ledger, restatement, job, run, new RefetchProvider());

        Assert.Equal(1, store.SilverListings);
        var row = Assert.Single(await ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None));
        Assert.Equal((false, run), (row.Split.Complete, row.RestatedBy));
    }

    [Fact]
    public async Task TwoExecutionsRecordingTheSameSplitsAtOnce_BothCommit_AndACompleteRecordIsNeverUndone()
    {
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, Options);
        for (var round = 0; round < 10; round++)
        {
            var job = await stack.CreateJobAsync("AAPL,MSFT,NVDA");
            var a = (await ledger.ClaimAsync(new ClaimRequest(Guid.NewGuid(), Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
            var b = (await ledger.ClaimAsync(new ClaimRequest(Guid.NewGuid(), Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
            var nvda = Split with { Date = Split.Date.AddDays(-1) };

            // Each completes one split the other leaves incomplete, listed in opposite orders.
            RestatedSplit[] ofA = [Restated("AAPL", Split, true), Restated("MSFT", Split, false), Restated("NVDA", nvda, true)];
            RestatedSplit[] ofB = [Restated("NVDA", nvda, false), Restated("MSFT", Split, true), Restated("AAPL", Split, false)];
            using var gate = new ManualResetEventSlim(false);
            var commits = new[] { (a, ofA), (b, ofB) }.Select(c => Task.Run(async () =>
            {
                gate.Wait();
                return await ledger.CompleteAsync(c.Item1, Success(c.Item2), CancellationToken.None);
            })).ToList();
            gate.Set();
            Assert.All(await Task.WhenAll(commits), Assert.True);

            var rows = await ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None);
            Assert.Equal(
                [("AAPL", true, a.ExecutionId), ("MSFT", true, b.ExecutionId), ("NVDA", true, a.ExecutionId)],
                rows.Select(r => (r.Split.Ticker, r.Split.Complete, r.RestatedBy)));
        }

        static RestatedSplit Restated(string ticker, StockSplit split, bool complete) => new(ticker, split.Date, split.Numerator, split.Denominator, complete ? 5 : 0, complete);
    }

    private static StageSuccess Success(IReadOnlyList<RestatedSplit> splits) =>
        new(Fetch, [], 0, new Dictionary<string, long>(), "{}") { RestatedSplits = splits };

    /// <summary>One Extract's split handling as ExtractWork does it: claim, the window's results (AAPL reporting the split), restate, commit.</summary>
    private static async Task<SplitRestatementResult> RunAsync(ExecutionLedger ledger, SplitRestatement restatement, JobConfig job, Guid executionId, RefetchProvider provider)
    {
        var lease = (await ledger.ClaimAsync(new ClaimRequest(executionId, Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None)).Lease!;
        var synthetic = new SyntheticQuoteProvider();
        var results = new Dictionary<string, TickerQuotes>(StringComparer.Ordinal);
        foreach (var ticker in job.Tickers)
        {
            var quotes = await synthetic.FetchAsync(ticker, Fetch, job.BarSize, CancellationToken.None);
            results[ticker] = ticker == "AAPL" ? quotes with { Splits = [Split] } : quotes;
        }

        var result = await restatement.RestateAsync(new StageContextInfo(executionId, job), provider, Fetch, results, CancellationToken.None);
        Assert.True(await ledger.CompleteAsync(lease, Success(result.Restated), CancellationToken.None));
        return result;
    }

    /// <summary>Monday's bars of the job's tickers in silver, ingested Monday evening: before the split, so on the old basis.</summary>
    private static async Task WriteOldBasisSilverAsync(IObjectStore store, JobConfig job)
    {
        var monday = new TimeWindow(new DateTimeOffset(2026, 11, 16, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 17, 0, 0, 0, TimeSpan.Zero));
        var rows = new List<BarRecord>();
        foreach (var ticker in job.Tickers)
        {
            var quotes = await new SyntheticQuoteProvider().FetchAsync(ticker, monday, job.BarSize, CancellationToken.None);
            rows.AddRange(quotes.Bars.Select(b => new BarRecord(b, Guid.NewGuid(), monday.End.AddHours(-2), "synthetic")));
        }

        using var buffer = new MemoryStream();
        await BarParquet.WriteAsync(buffer, rows);
        buffer.Position = 0;
        await store.UploadObjectAsync(job.SilverBucketName, ObjectLayout.SilverObject(DateOnly.FromDateTime(monday.Start.UtcDateTime)), "application/vnd.apache.parquet", buffer);
    }

    /// <summary>Serves the re-fetches with the synthetic bars, or fails them permanently (as a symbol Yahoo stopped serving).</summary>
    private sealed class RefetchProvider : IQuoteProvider
    {
        private int _calls;

        public bool Failing { get; set; }

        public int Calls => Volatile.Read(ref _calls);

        public string Name => SyntheticQuoteProvider.ProviderName;

        public async Task<TickerQuotes> FetchAsync(string ticker, TimeWindow window, TimeSpan barSize, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            var quotes = await new SyntheticQuoteProvider().FetchAsync(ticker, window, barSize, cancellationToken);
            return Failing ? new TickerQuotes(ticker, [], Error: "404: No data found, symbol may be delisted") : quotes with { Splits = [Split] };
        }
    }

    /// <summary>Counts the listings of the silver history and the reads of silver partitions.</summary>
    private sealed class CountingStore(IObjectStore inner, string silverBucket) : DelegatingObjectStore(inner)
    {
        private int _listings;
        private int _downloads;

        public int SilverListings => Volatile.Read(ref _listings);

        public int SilverDownloads => Volatile.Read(ref _downloads);

        /// <summary>Runs once, when the next listing of silver has been read to its end (what a racing Transform does then).</summary>
        public Func<Task>? AfterSilverListing { get; set; }

        public override IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (bucket != silverBucket)
            {
                return base.ListObjectsAsync(bucket, prefix, options, cancellationToken);
            }

            Interlocked.Increment(ref _listings);
            return ThenAsync(base.ListObjectsAsync(bucket, prefix, options, cancellationToken), cancellationToken);
        }

        private async IAsyncEnumerable<StoredObject> ThenAsync(IAsyncEnumerable<StoredObject> listing, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var item in listing.WithCancellation(cancellationToken))
            {
                yield return item;
            }

            if (AfterSilverListing is { } after)
            {
                AfterSilverListing = null;
                await after();
            }
        }

        public override Task DownloadObjectAsync(string bucket, string objectName, Stream destination, CancellationToken cancellationToken = default)
        {
            if (bucket == silverBucket)
            {
                Interlocked.Increment(ref _downloads);
            }

            return base.DownloadObjectAsync(bucket, objectName, destination, cancellationToken);
        }
    }
}
