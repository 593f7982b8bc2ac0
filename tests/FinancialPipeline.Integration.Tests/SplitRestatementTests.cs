using System.Globalization;
using DuckDB.NET.Data;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.DevServices;
using FinancialPipeline.Stages;
using FinancialPipeline.Storage;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// A stock split after bars were stored: Yahoo restates every earlier bar on the new basis, so Extract must re-fetch the
/// ticker's stored history or gold's return_pct shows the split as a −75 % loss (audit item 1).
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class SplitRestatementTests(StackFixture stack)
{
    /// <summary>AAPL splits 4:1 at Wednesday 2026-11-18's open (09:30 New York): its first bar on the new basis.</summary>
    private static readonly StockSplit Split = new(new DateTimeOffset(2026, 11, 18, 14, 30, 0, TimeSpan.Zero), 4, 1);

    [Fact]
    public async Task ASplitSeenAfterBarsWereStored_RestatesThemOnTheNewBasis_SoGoldsReturnAcrossItIsTheAdjustedOne()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 17, 21, 5, 0, TimeSpan.Zero)); // Tuesday, after the close
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions
        {
            Splits = new Dictionary<string, IReadOnlyList<StockSplit>>(StringComparer.Ordinal) { ["AAPL"] = [Split] },
            Clock = clock,
        });
        var job = await stack.CreateJobAsync("AAPL,MSFT", lookbackSeconds: 3 * 86400, provider: "yahoo");
        var silverListings = 0; // by Extract: how it looks for old-basis bars
        await using var pipeline = await stack.StartPipelineAsync(
            (function, services) =>
            {
                services.AddSingleton<TimeProvider>(clock);
                if (function == "extract")
                {
                    services.AddSingleton<IObjectStore>(sp => new ListingCounter(
                        new FileSystemObjectStore(sp.GetRequiredService<PipelineSettings>().BucketsRoot), job.SilverBucketName, () => Interlocked.Increment(ref silverListings)));
                }
            },
            o => o with { YahooBaseUrl = yahoo.BaseUrl });
        var driver = new PipelineDriver(stack, pipeline);

        // Run 1, the day before the split: Yahoo serves AAPL on the old basis (4 × today's prices).
        var first = new StartMessage(Guid.NewGuid(), job.JobName, clock.GetUtcNow(), null);
        await driver.PublishStartAsync(first);
        await driver.WaitForGoldSuccessAsync(first.ExecutionId);
        var before = await SilverAsync(pipeline, job.SilverBucketName);
        Assert.NotEmpty(before);
        Assert.All(before.Where(r => r.Bar.Ticker == "AAPL"), r => Assert.Equal(Math.Round(Synthetic(r.Bar.Timestamp).Close * 4, 4), r.Bar.Close));
        var goldBefore = await GoldAsync(pipeline);

        // Run 2, after the split's first session: the overlap alone would restate three bars; Extract re-fetches the rest.
        clock.SetUtcNow(new DateTimeOffset(2026, 11, 18, 21, 5, 0, TimeSpan.Zero));
        var second = new StartMessage(Guid.NewGuid(), job.JobName, clock.GetUtcNow(), null);
        await driver.PublishStartAsync(second);
        await driver.WaitForGoldSuccessAsync(second.ExecutionId);

        var bronze = (await driver.Ledger.GetAsync(second.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        var metrics = StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes(bronze.CompletionJson!), Stage.Bronze).Metrics;
        var storedBeforeWindow = before.Count(r => r.Bar.Ticker == "AAPL" && r.Bar.Timestamp < bronze.StartTime!.Value);
        Assert.True(storedBeforeWindow > 0);
        Assert.Equal((1L, 1L, storedBeforeWindow, 0L, 0L), (metrics["splits_detected"], metrics["tickers_refetched"], metrics["split_refetch_bars"], metrics["split_refetch_incomplete"], metrics["splits_already_restated"]));
        Assert.Equal(1, Volatile.Read(ref silverListings));
        var recorded = Assert.Single(await driver.Ledger.RestatedSplitsAsync(job.JobName, job.Tickers, CancellationToken.None));
        Assert.Equal(("AAPL", Split.Date, storedBeforeWindow, true, second.ExecutionId), (recorded.Split.Ticker, recorded.Split.SplitDate, recorded.Split.Bars, recorded.Split.Complete, recorded.RestatedBy));

        // Silver: every AAPL bar on the new basis, and no bar more than the two windows hold.
        var after = await SilverAsync(pipeline, job.SilverBucketName);
        Assert.All(after.Where(r => r.Bar.Ticker == "AAPL"), r => Assert.Equal(Synthetic(r.Bar.Timestamp).Close, r.Bar.Close));
        var aaplHours = after.Where(r => r.Bar.Ticker == "AAPL").Select(r => r.Bar.Timestamp).Order().ToList();
        Assert.Equal(after.Where(r => r.Bar.Ticker == "MSFT").Select(r => r.Bar.Timestamp).Order(), aaplHours);
        Assert.Equal(before.Where(r => r.Bar.Ticker == "AAPL").Select(r => r.Bar.Timestamp).Union(aaplHours.Where(t => t >= bronze.StartTime!.Value)).Order(), aaplHours);

        // Gold: the split hour's return is the adjusted one, not −75 %; MSFT and the row count are untouched.
        var gold = await GoldAsync(pipeline);
        var splitHour = gold.Single(g => g.Ticker == "AAPL" && g.Hour == new DateTimeOffset(2026, 11, 18, 14, 0, 0, TimeSpan.Zero));
        var previousClose = Synthetic(new DateTimeOffset(2026, 11, 17, 20, 30, 0, TimeSpan.Zero)).Close;
        var expected = (Synthetic(Split.Date).Close / previousClose - 1) * 100;
        Assert.Equal(expected, splitHour.ReturnPct!.Value, 9);
        Assert.True(Math.Abs(splitHour.ReturnPct.Value) < 10, $"return_pct across the split is {splitHour.ReturnPct}");
        Assert.All(gold.Where(g => g.Ticker == "AAPL" && g.ReturnPct is not null), g => Assert.True(Math.Abs(g.ReturnPct!.Value) < 10, $"{g.Hour:O}: return_pct {g.ReturnPct}"));
        Assert.Equal(after.Select(r => (r.Bar.Ticker, Hour: Truncate(r.Bar.Timestamp))).Distinct().Count(), gold.Count);
        var msftBefore = goldBefore.Where(g => g.Ticker == "MSFT").ToList();
        Assert.Equal(msftBefore, gold.Where(g => g.Ticker == "MSFT" && g.Hour <= msftBefore[^1].Hour));
        Assert.All(gold.Where(g => g.Ticker == "AAPL" && g.Hour < Split.Date.AddHours(-24)), g => Assert.Equal(Synthetic(g.Hour.AddMinutes(30)).Close, g.Close));

        // Run 3, a backfill over the split day: the split is reported again, but it is recorded as restated, so silver's
        // history is not listed again.
        clock.SetUtcNow(new DateTimeOffset(2026, 11, 19, 1, 5, 0, TimeSpan.Zero));
        var third = new StartMessage(Guid.NewGuid(), job.JobName, clock.GetUtcNow(), new TimeWindow(new DateTimeOffset(2026, 11, 18, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 19, 0, 0, 0, TimeSpan.Zero)));
        await driver.PublishStartAsync(third);
        await driver.WaitForGoldSuccessAsync(third.ExecutionId);
        var again = StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes((await driver.Ledger.GetAsync(third.ExecutionId, Stage.Bronze, CancellationToken.None))!.CompletionJson!), Stage.Bronze).Metrics;
        Assert.Equal((1L, 0L, 0L, 1L), (again["splits_detected"], again["tickers_refetched"], again["split_refetch_incomplete"], again["splits_already_restated"]));
        Assert.Equal(1, Volatile.Read(ref silverListings));
        var known = gold.Select(g => (g.Ticker, g.Hour)).ToHashSet();
        Assert.Equal(gold, (await GoldAsync(pipeline)).Where(g => known.Contains((g.Ticker, g.Hour)))); // plus the 20:30 bars run 2 had not reached
    }

    /// <summary>Calls <paramref name="listed"/> at each listing of <paramref name="silverBucket"/>.</summary>
    private sealed class ListingCounter(IObjectStore inner, string silverBucket, Action listed) : DelegatingObjectStore(inner)
    {
        public override IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (bucket == silverBucket)
            {
                listed();
            }

            return base.ListObjectsAsync(bucket, prefix, options, cancellationToken);
        }
    }

    private static QuoteBar Synthetic(DateTimeOffset start) => SyntheticQuoteProvider.Bar("AAPL", start, TimeSpan.FromHours(1));

    private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero);

    private static async Task<List<BarRecord>> SilverAsync(LocalPipeline pipeline, string bucket)
    {
        var rows = new List<BarRecord>();
        foreach (var file in Directory.GetFiles(Path.Combine(pipeline.Settings.BucketsRoot, bucket, ObjectLayout.Dataset), "*.parquet", SearchOption.AllDirectories))
        {
            await using var stream = File.OpenRead(file);
            rows.AddRange(await BarParquet.ReadAsync(stream));
        }

        return rows;
    }

    private sealed record GoldRow(string Ticker, DateTimeOffset Hour, double Close, double? ReturnPct);

    private static async Task<List<GoldRow>> GoldAsync(LocalPipeline pipeline)
    {
        await using var conn = new DuckDBConnection($"Data Source={pipeline.Settings.DuckDbPath};ACCESS_MODE=READ_ONLY");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = """SELECT ticker, epoch("hour")::BIGINT, close, return_pct FROM financial_data_hour ORDER BY ticker, "hour" """;
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<GoldRow>();
        while (await reader.ReadAsync())
        {
            rows.Add(new GoldRow(
                reader.GetString(0),
                DateTimeOffset.FromUnixTimeSeconds(Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture)),
                reader.GetDouble(2),
                reader.IsDBNull(3) ? null : reader.GetDouble(3)));
        }

        return rows;
    }
}
