using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Warehouse.Tests.Gold;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Warehouse.Tests;

/// <summary><c>fp gold</c>'s reader on a gold file the real MERGE wrote, checked against the oracle's own read of it.</summary>
public sealed class DuckDbGoldReaderTests : IDisposable
{
    private readonly SilverLake _lake = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 4, 2, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => _lake.Dispose();

    [Fact]
    public async Task Newest_hours_first_with_every_column_and_a_summary_of_the_whole_table()
    {
        var execution = await MergeAsync(seed: 11);
        var all = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);

        var (summary, newest) = await DuckDbGoldReader.ReadNewestAsync(_lake.DatabasePath, ticker: null, limit: 7, TimeProvider.System, CancellationToken.None);

        Assert.Equal(new GoldSummary(all.Count, all.Select(r => r.Ticker).Distinct().Count(), all.Min(r => r.Hour), all.Max(r => r.Hour)), summary);
        var expected = all.OrderByDescending(r => r.Hour).ThenBy(r => r.Ticker, StringComparer.Ordinal).Take(7).ToList();
        Assert.Equal(
            expected.Select(r => (r.Ticker, r.Hour, r.Open, r.High, r.Low, r.Close, r.Volume, r.Vwap, r.BarCount, r.ReturnPct, r.RangePct, r.ExecutionId, r.UpdatedAt)),
            newest.Select(r => (r.Ticker, r.Hour, r.Open, r.High, r.Low, r.Close, r.Volume, r.Vwap, r.BarCount, r.ReturnPct, r.RangePct, (string?)r.ExecutionId, (DateTimeOffset?)r.UpdatedAt)));
        Assert.All(newest, r => Assert.Equal(execution.ToString("D"), r.ExecutionId));
        Assert.All(newest, r => Assert.Equal(TimeSpan.Zero, r.Hour.Offset));
    }

    [Fact]
    public async Task One_ticker_only_and_an_unknown_ticker_reads_as_empty()
    {
        await MergeAsync(seed: 12);
        var all = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        var ticker = all[0].Ticker;

        var (summary, newest) = await DuckDbGoldReader.ReadNewestAsync(_lake.DatabasePath, ticker, limit: 1000, TimeProvider.System, CancellationToken.None);
        var (none, noRows) = await DuckDbGoldReader.ReadNewestAsync(_lake.DatabasePath, "ZZZZ", limit: 5, TimeProvider.System, CancellationToken.None);

        Assert.Equal(all.Count(r => r.Ticker == ticker), summary.Rows);
        Assert.Equal(1, summary.Tickers);
        Assert.Equal(summary.Rows, newest.Count);
        Assert.All(newest, r => Assert.Equal(ticker, r.Ticker));
        Assert.Equal(new GoldSummary(0, 0, null, null), none);
        Assert.Empty(noRows);
    }

    [Fact]
    public async Task A_missing_file_or_one_without_the_gold_table_is_explained_and_not_created()
    {
        var missing = Path.Combine(_lake.Root, "nowhere", "gold.duckdb");
        var notGold = Path.Combine(_lake.Root, "other.duckdb");
        await using (var conn = new DuckDB.NET.Data.DuckDBConnection($"Data Source={notGold}"))
        {
            await conn.OpenAsync();
        }

        var noFile = await Assert.ThrowsAsync<GoldUnavailableException>(() => DuckDbGoldReader.ReadNewestAsync(missing, null, 5, TimeProvider.System, CancellationToken.None));
        var noTable = await Assert.ThrowsAsync<GoldUnavailableException>(() => DuckDbGoldReader.ReadNewestAsync(notGold, null, 5, TimeProvider.System, CancellationToken.None));

        Assert.Contains("no gold file at", noFile.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(missing));
        Assert.Contains("has no financial_data_hour table", noTable.Message, StringComparison.Ordinal);
    }

    private async Task<Guid> MergeAsync(int seed)
    {
        var (main, _) = RandomSilver.Generate(seed);
        await _lake.WriteAsync(main);
        var execution = Guid.NewGuid();
        var dates = main.Select(r => DateOnly.FromDateTime(r.Bar.Timestamp.UtcDateTime)).Distinct().Order().ToList();
        var warehouse = new DuckDbGoldWarehouse(new DuckDbOptions { DatabasePath = _lake.DatabasePath, BucketsRoot = _lake.BucketsRoot }, _time);
        await warehouse.MergeHoursAsync(execution, 1, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);
        return execution;
    }
}
