using DuckDB.NET.Data;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Tests.Shared;
using FinancialPipeline.Warehouse.Tests.Gold;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Warehouse.Tests;

/// <summary>
/// Gold's <c>currency</c> column: carried from silver, NULL from silver written before silver had the column, and added
/// in place to a gold table an earlier version created.
/// </summary>
public sealed class DuckDbGoldCurrencyTests : IDisposable
{
    private static readonly DateOnly Monday = new(2024, 3, 4);
    private static readonly DateOnly Tuesday = new(2024, 3, 5);
    private readonly SilverLake _lake = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 4, 2, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => _lake.Dispose();

    [Fact]
    public async Task Gold_takes_each_hours_currency_from_silver_and_reads_an_old_schema_partition_as_null()
    {
        // Monday's partition predates the column; Tuesday's has it, for a USD and a JPY ticker.
        await WriteOldSchemaAsync(Monday, [Bar(Monday, 14, "AAPL", null), Bar(Monday, 15, "AAPL", null)]);
        await _lake.WriteAsync([Bar(Tuesday, 14, "AAPL", "USD"), Bar(Tuesday, 14, "7203.T", "JPY"), Bar(Tuesday, 15, "AAPL", "USD")]);

        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, ["AAPL", "7203.T"], [Monday, Tuesday], CancellationToken.None);

        var gold = await CurrenciesAsync();
        Assert.Equal(
            [
                ("7203.T", Hour(Tuesday, 14), "JPY"),
                ("AAPL", Hour(Monday, 14), null),
                ("AAPL", Hour(Monday, 15), null),
                ("AAPL", Hour(Tuesday, 14), "USD"),
                ("AAPL", Hour(Tuesday, 15), "USD"),
            ],
            gold);
    }

    [Fact]
    public async Task Silver_that_is_all_old_schema_still_merges_with_a_null_currency()
    {
        await WriteOldSchemaAsync(Monday, [Bar(Monday, 14, "AAPL", null)]);

        var result = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, ["AAPL"], [Monday], CancellationToken.None);

        Assert.Equal(1, result.RowsAffected);
        Assert.Equal([("AAPL", Hour(Monday, 14), (string?)null)], await CurrenciesAsync());
    }

    [Fact]
    public async Task A_gold_table_created_without_currency_is_migrated_in_place_and_its_rows_kept()
    {
        // The table as the previous version created it, holding one hour merged back then.
        Directory.CreateDirectory(Path.GetDirectoryName(_lake.DatabasePath)!);
        await using (var conn = new DuckDBConnection($"Data Source={_lake.DatabasePath}"))
        {
            await conn.OpenAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = PreCurrencyGold.CreateWithOneHourSql;
            await cmd.ExecuteNonQueryAsync();
        }

        await _lake.WriteAsync([Bar(Monday, 14, "AAPL", "USD")]);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, ["AAPL"], [Monday], CancellationToken.None);

        Assert.Equal(
            [("AAPL", Hour(Monday, 14), "USD"), ("MSFT", PreCurrencyGold.Hour, null)],
            await CurrenciesAsync());
        await using var check = new DuckDBConnection($"Data Source={_lake.DatabasePath}");
        await check.OpenAsync();
        await using var old = check.CreateCommand();
        old.CommandText = "SELECT execution_id, close FROM financial_data_hour WHERE ticker = 'MSFT'";
        await using var r = await old.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        Assert.Equal("old-execution", r.GetString(0));
        Assert.Equal(1.5, r.GetDouble(1));
    }

    [Fact]
    public async Task An_hour_merged_before_silver_had_a_currency_gets_it_when_silver_is_rewritten_with_one()
    {
        await WriteOldSchemaAsync(Monday, [Bar(Monday, 14, "AAPL", null)]);
        await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, ["AAPL"], [Monday], CancellationToken.None);

        // Transform rewrites the partition in the current schema (a later run's overlap re-fetched the bar).
        await _lake.WriteAsync([Bar(Monday, 14, "AAPL", "USD")]);
        var second = await Warehouse().MergeHoursAsync(Guid.NewGuid(), 1, SilverLake.Bucket, ["AAPL"], [Monday], CancellationToken.None);

        Assert.Equal(1, second.RowsAffected);
        Assert.Equal([("AAPL", Hour(Monday, 14), "USD")], await CurrenciesAsync());
    }

    private async Task WriteOldSchemaAsync(DateOnly date, IReadOnlyList<BarRecord> rows)
    {
        var path = Path.Combine(_lake.BucketsRoot, SilverLake.Bucket, ObjectLayout.SilverObject(date).Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using var file = File.Create(path);
        await PreCurrencyParquet.WriteAsync(file, rows);
    }

    private async Task<List<(string Ticker, DateTimeOffset Hour, string? Currency)>> CurrenciesAsync()
    {
        await using var conn = new DuckDBConnection($"Data Source={_lake.DatabasePath}");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SET TimeZone = 'UTC'; SELECT ticker, \"hour\", currency FROM financial_data_hour ORDER BY ticker, \"hour\"";
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<(string, DateTimeOffset, string?)>();
        while (await r.ReadAsync())
        {
            rows.Add((r.GetString(0), DuckDbUtc.Instant(r.GetDateTime(1)), r.IsDBNull(2) ? null : r.GetString(2)));
        }

        return rows;
    }

    private DuckDbGoldWarehouse Warehouse() =>
        new(new DuckDbOptions { DatabasePath = _lake.DatabasePath, BucketsRoot = _lake.BucketsRoot }, _time);

    private static DateTimeOffset Hour(DateOnly date, int hour) => new(date.ToDateTime(new TimeOnly(hour, 0)), TimeSpan.Zero);

    private static BarRecord Bar(DateOnly date, int hour, string ticker, string? currency) => new(
        new QuoteBar(Hour(date, hour).AddMinutes(30), ticker, 10, 11, 9, 10.5, null, 100, currency, currency is null ? null : "America/New_York"),
        Guid.Parse("0b9f3c2e-7a41-4d5e-9c1b-2f6a8e4d1c3b"),
        new DateTimeOffset(2024, 3, 6, 0, 0, 0, TimeSpan.Zero),
        "yahoo");
}
