using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Warehouse.Tests.Gold;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Warehouse.Tests;

/// <summary>The DuckDB gold warehouse on real Parquet in a temp directory, checked against an independent LINQ computation.</summary>
public sealed class DuckDbGoldWarehouseTests : IDisposable
{
    private readonly SilverLake _lake = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 4, 2, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => _lake.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(42)]
    [InlineData(2024)]
    public async Task Gold_equals_an_independent_computation_of_every_column(int seed)
    {
        var (main, restated) = RandomSilver.Generate(seed);
        await _lake.WriteAsync(main);
        await _lake.WriteAsync(restated, part: 1);

        var result = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, AllDates(main), CancellationToken.None);

        var expected = GoldOracle.Compute(_lake.Rows);
        var actual = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        GoldOracle.AssertSameAggregates(expected, actual);
        Assert.Equal(expected.Count, result.RowsAffected);
        Assert.Equal(expected.Count, result.HoursInScope);
        Assert.Equal(expected.Max(r => r.Hour), result.NewestHour);
        Assert.Contains(expected, r => r.BarCount > 1);
        Assert.Contains(expected, r => r.Vwap is null);
        Assert.Contains(expected, r => r.ReturnPct is null && r.Ticker == "AAPL" && r.Hour > expected[0].Hour.AddDays(7));
    }

    [Fact]
    public async Task Same_execution_three_times_leaves_gold_identical()
    {
        var (main, _) = RandomSilver.Generate(3);
        await _lake.WriteAsync(main);
        var execution = Guid.NewGuid();
        var dates = AllDates(main);

        var first = await Warehouse().MergeHoursAsync(execution, 1, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);
        var afterFirst = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        _time.Advance(TimeSpan.FromMinutes(5));
        var second = await Warehouse().MergeHoursAsync(execution, 1, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(5));
        var third = await Warehouse().MergeHoursAsync(execution, 2, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);

        Assert.True(first.RowsAffected > 0);
        Assert.Equal(0, second.RowsAffected);
        Assert.Equal(0, third.RowsAffected);
        Assert.Equal(afterFirst, await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath));
    }

    [Fact]
    public async Task Overlapping_executions_write_each_hour_once()
    {
        var (main, _) = RandomSilver.Generate(5);
        await _lake.WriteAsync(main);
        var dates = AllDates(main);

        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, dates.Take(14).ToList(), CancellationToken.None);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, dates.Skip(9).ToList(), CancellationToken.None);

        var gold = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        Assert.Equal(gold.Count, gold.Select(r => (r.Ticker, r.Hour)).Distinct().Count());
        GoldOracle.AssertSameAggregates(GoldOracle.Compute(_lake.Rows), gold);
    }

    [Fact]
    public async Task Late_correction_updates_its_hour_and_the_next_hours_return_and_nothing_else()
    {
        var (main, _) = RandomSilver.Generate(11);
        await _lake.WriteAsync(main);
        var first = Guid.NewGuid();
        await Warehouse().MergeHoursAsync(first, 1, SilverLake.Bucket, RandomSilver.Tickers, AllDates(main), CancellationToken.None);
        var before = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);

        // The last AAPL bar of a Friday: the next AAPL hour is on Monday, three partitions later.
        var friday = main.Where(r => r.Bar.Ticker == "AAPL" && r.Bar.Timestamp.DayOfWeek == DayOfWeek.Friday).OrderBy(r => r.Bar.Timestamp).First();
        var original = main.Where(r => r.Bar.Ticker == "AAPL" && r.Bar.Timestamp.Date == friday.Bar.Timestamp.Date).MaxBy(r => r.Bar.Timestamp);
        var corrected = original with
        {
            Bar = original.Bar with { Close = original.Bar.Close * 1.05, High = Math.Max(original.Bar.High, original.Bar.Close * 1.05) },
            IngestedAt = original.IngestedAt.AddHours(3),
        };
        await _lake.ReplaceAsync(original, corrected);
        _time.Advance(TimeSpan.FromHours(3));
        var correction = Guid.NewGuid();

        var result = await Warehouse().MergeHoursAsync(correction, 1, SilverLake.Bucket, RandomSilver.Tickers, [DateOnly.FromDateTime(original.Bar.Timestamp.UtcDateTime)], CancellationToken.None);

        var after = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        GoldOracle.AssertSameAggregates(GoldOracle.Compute(_lake.Rows), after);
        var hour = Truncate(original.Bar.Timestamp);
        var next = before.Where(r => r.Ticker == "AAPL" && r.Hour > hour).MinBy(r => r.Hour)!;
        Assert.Equal(DayOfWeek.Monday, next.Hour.DayOfWeek);
        var changed = after.Where(r => r.ExecutionId == correction.ToString("D")).Select(r => (r.Ticker, r.Hour)).ToList();
        Assert.Equal([("AAPL", hour), ("AAPL", next.Hour)], changed);
        Assert.Equal(2, result.RowsAffected);
        Assert.NotEqual(before.Single(r => r.Ticker == "AAPL" && r.Hour == next.Hour).ReturnPct, after.Single(r => r.Ticker == "AAPL" && r.Hour == next.Hour).ReturnPct);
        Assert.All(after.Where(r => !changed.Contains((r.Ticker, r.Hour))), r =>
        {
            var old = before.Single(b => b.Ticker == r.Ticker && b.Hour == r.Hour);
            Assert.Equal(old, r);
        });
        Assert.All(after.Where(r => changed.Contains((r.Ticker, r.Hour))), r => Assert.Equal(_time.GetUtcNow(), r.UpdatedAt));
    }

    [Fact]
    public async Task Bar_removed_from_silver_removes_its_hour_and_the_next_hour_loses_that_close()
    {
        var (main, _) = RandomSilver.Generate(13);
        await _lake.WriteAsync(main);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, AllDates(main), CancellationToken.None);
        var removed = main.First(r => r.Bar.Ticker == "BTC-USD" && r.Bar.Timestamp.Day == 5 && r.Bar.Timestamp.Hour >= 12);

        await _lake.ReplaceAsync(removed, null);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, [DateOnly.FromDateTime(removed.Bar.Timestamp.UtcDateTime)], CancellationToken.None);

        var gold = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        Assert.DoesNotContain(gold, r => r.Ticker == "BTC-USD" && r.Hour == Truncate(removed.Bar.Timestamp));
        GoldOracle.AssertSameAggregates(GoldOracle.Compute(_lake.Rows), gold);
    }

    [Fact]
    public async Task Another_job_with_its_own_silver_bucket_never_reads_changes_or_deletes_this_jobs_hours()
    {
        const string otherBucket = "fp-silver-other-job";
        var (main, _) = RandomSilver.Generate(5);
        await _lake.WriteAsync(main);
        // The other job's coin trades on the same dates; its silver is in its own bucket.
        var coinOnly = main.Where(r => r.Bar.Ticker == "BTC-USD").Select(r => r with { Bar = r.Bar with { Ticker = "ETH-USD" } }).ToList();
        await _lake.WriteAsync(coinOnly, bucket: otherBucket);
        var dates = AllDates(main);

        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);
        var ethJob = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, otherBucket, ["ETH-USD"], AllDates(coinOnly), CancellationToken.None);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 2, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);

        var gold = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        GoldOracle.AssertSameAggregates(GoldOracle.Compute(_lake.Rows), gold.Where(r => r.Ticker != "ETH-USD").ToList());
        var eth = gold.Where(r => r.Ticker == "ETH-USD").ToList();
        Assert.Equal(coinOnly.Select(r => Truncate(r.Bar.Timestamp)).Distinct().Count(), eth.Count);
        Assert.Equal(eth.Count(r => AllDates(coinOnly).Contains(DateOnly.FromDateTime(r.Hour.UtcDateTime))), ethJob.HoursInScope);
    }

    [Fact]
    public async Task A_touched_date_without_a_silver_partition_fails_and_leaves_its_gold_hours()
    {
        var (main, _) = RandomSilver.Generate(9);
        await _lake.WriteAsync(main);
        var dates = AllDates(main);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);
        var before = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);

        // The job's silver_bucket_name was changed after silver wrote: the new bucket holds nothing for the date.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, "fp-silver-renamed", RandomSilver.Tickers, [dates[3]], CancellationToken.None));

        Assert.Contains($"touched date {dates[3]:yyyy-MM-dd} has no silver partition in bucket fp-silver-renamed", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath));
    }

    [Fact]
    public async Task Bars_stamped_at_half_past_land_in_the_hour_they_start_on_the_same_date()
    {
        var bars = new[] { At(14, 30), At(23, 30) };
        await _lake.WriteAsync(bars);

        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, [new DateOnly(2024, 3, 4)], CancellationToken.None);

        var gold = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        Assert.Equal(
            [new DateTimeOffset(2024, 3, 4, 14, 0, 0, TimeSpan.Zero), new DateTimeOffset(2024, 3, 4, 23, 0, 0, TimeSpan.Zero)],
            gold.Select(r => r.Hour));
        Assert.All(gold, r => Assert.Equal(1, r.BarCount));
    }

    [Fact]
    public async Task Freshness_is_the_tables_newest_hour_even_when_an_older_date_is_recomputed()
    {
        var (main, _) = RandomSilver.Generate(17);
        await _lake.WriteAsync(main);
        var dates = AllDates(main);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, dates, CancellationToken.None);

        var backfill = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, [dates[2]], CancellationToken.None);

        var gold = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        Assert.Equal(gold.Max(r => r.Hour), backfill.NewestHour);
        Assert.Equal(gold.Count(r => DateOnly.FromDateTime(r.Hour.UtcDateTime) == dates[2]), backfill.HoursInScope);
        Assert.Equal(0, backfill.RowsAffected);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("UPPER")]
    [InlineData("a'b")]
    [InlineData("")]
    public async Task Silver_bucket_that_is_not_a_bucket_name_is_refused(string bucket)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, bucket, RandomSilver.Tickers, [new DateOnly(2024, 3, 4)], CancellationToken.None));
        Assert.Contains("silver bucket", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nothing_touched_before_any_gold_reports_no_newest_hour_and_creates_no_file()
    {
        var result = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, [], CancellationToken.None);

        Assert.Equal(new Core.Warehouse.GoldMergeResult(0, 0, null, DuckDbGoldWarehouse.Table), result);
        Assert.False(File.Exists(_lake.DatabasePath));
        Assert.False(Directory.Exists(Path.GetDirectoryName(_lake.DatabasePath)));
    }

    [Fact]
    public async Task Nothing_touched_still_reports_the_tables_newest_hour_and_changes_nothing()
    {
        var bar = At(14, 30);
        await _lake.WriteAsync([bar]);
        var merged = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, [new DateOnly(2024, 3, 4)], CancellationToken.None);
        var before = await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath);
        _time.Advance(TimeSpan.FromDays(3));

        var idle = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, [], CancellationToken.None);

        Assert.Equal(1, merged.RowsAffected);
        Assert.Equal(new Core.Warehouse.GoldMergeResult(0, 0, Truncate(bar.Bar.Timestamp), DuckDbGoldWarehouse.Table), idle);
        Assert.Equal(before, await GoldOracle.ReadDuckDbAsync(_lake.DatabasePath));
    }

    [Fact]
    public async Task Nothing_touched_on_a_file_without_the_gold_table_creates_the_table_and_reports_no_newest_hour()
    {
        // A file this process has not applied the schema to: the freshness read needs the table.
        var path = Path.Combine(_lake.Root, "other", "gold.duckdb");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using (var conn = new DuckDB.NET.Data.DuckDBConnection($"Data Source={path}"))
        {
            await conn.OpenAsync();
        }

        var warehouse = new DuckDbGoldWarehouse(new DuckDbOptions { DatabasePath = path, BucketsRoot = _lake.BucketsRoot }, _time);
        var result = await warehouse.MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, RandomSilver.Tickers, [], CancellationToken.None);

        Assert.Equal(new Core.Warehouse.GoldMergeResult(0, 0, null, DuckDbGoldWarehouse.Table), result);
        Assert.Empty(await GoldOracle.ReadDuckDbAsync(path));
    }

    private DuckDbGoldWarehouse Warehouse() =>
        new(new DuckDbOptions { DatabasePath = _lake.DatabasePath, BucketsRoot = _lake.BucketsRoot }, _time);

    private static List<DateOnly> AllDates(IEnumerable<BarRecord> rows) =>
        rows.Select(r => DateOnly.FromDateTime(r.Bar.Timestamp.UtcDateTime)).Distinct().Order().ToList();

    private static DateTimeOffset Truncate(DateTimeOffset ts) => new(ts.UtcDateTime.Date.AddHours(ts.UtcDateTime.Hour), TimeSpan.Zero);

    private static BarRecord At(int hour, int minute) => new(
        new Core.Market.QuoteBar(new DateTimeOffset(2024, 3, 4, hour, minute, 0, TimeSpan.Zero), "AAPL", 10, 11, 9, 10.5, null, 100),
        Guid.NewGuid(),
        new DateTimeOffset(2024, 3, 5, 0, 0, 0, TimeSpan.Zero),
        "synthetic");
}
