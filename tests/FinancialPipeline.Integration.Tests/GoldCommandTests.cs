using DuckDB.NET.Data;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Tests.Shared;
using FinancialPipeline.Warehouse;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Integration.Tests;

/// <summary><c>fp gold</c> as a child process over a gold file the real MERGE wrote, and when another process holds it.</summary>
public sealed class GoldCommandTests
{
    [Fact]
    public async Task Gold_shows_every_column_of_the_newest_hours_updated_at_included_and_says_when_no_row_matches()
    {
        var data = Directory.CreateTempSubdirectory("fp-gold-");
        try
        {
            var bar = new DateTimeOffset(2026, 11, 23, 14, 30, 0, TimeSpan.Zero);
            var mergedAt = new DateTimeOffset(2026, 11, 23, 16, 0, 5, TimeSpan.Zero);
            var execution = Guid.NewGuid();
            var silver = Path.Combine(data.FullName, "buckets", "fp-silver", ObjectLayout.SilverObject(DateOnly.FromDateTime(bar.UtcDateTime)));
            Directory.CreateDirectory(Path.GetDirectoryName(silver)!);
            await using (var file = File.Create(silver))
            {
                await BarParquet.WriteAsync(file, [new BarRecord(new QuoteBar(bar, "AAPL", 10, 12, 9, 11, null, 100, "USD", "America/New_York"), execution, bar.AddHours(1), "synthetic")]);
            }

            var warehouse = new DuckDbGoldWarehouse(
                new DuckDbOptions { DatabasePath = Path.Combine(data.FullName, "warehouse", "gold.duckdb"), BucketsRoot = Path.Combine(data.FullName, "buckets") },
                new FakeTimeProvider(mergedAt));
            await warehouse.MergeHoursAsync(execution, 1, "fp-silver", ["AAPL"], [DateOnly.FromDateTime(bar.UtcDateTime)], CancellationToken.None);

            var gold = await FpProcess.RunAsync(new Dictionary<string, string>(), "gold", "--data-dir", data.FullName);
            var nope = await FpProcess.RunAsync(new Dictionary<string, string>(), "gold", "--data-dir", data.FullName, "--ticker", "NOPE");

            Assert.True(gold.ExitCode == 0, gold.Stderr);
            Assert.Contains("updated (UTC)", gold.Stdout, StringComparison.Ordinal);
            Assert.Matches($"│ 2026-11-23 14:00 +│ AAPL +│ USD +│ +10.0000 │ +12.0000 │ +9.0000 │ +11.0000 │ +100 │ [^│]+│ +1 │ +- │ +33.333 │ {execution:D} │ 2026-11-23 16:00:05 +│", gold.Stdout);
            Assert.Equal((0, $"{Path.Combine(data.FullName, "warehouse", "gold.duckdb")}: financial_data_hour holds no rows of NOPE\n"), (nope.ExitCode, nope.Stdout));
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Gold_created_before_the_currency_column_and_not_yet_migrated_is_shown_with_an_unknown_currency()
    {
        var data = Directory.CreateTempSubdirectory("fp-gold-");
        try
        {
            Directory.CreateDirectory(Path.Combine(data.FullName, "warehouse"));
            await using (var old = new DuckDBConnection($"Data Source={Path.Combine(data.FullName, "warehouse", "gold.duckdb")}"))
            {
                await old.OpenAsync();
                await using var cmd = old.CreateCommand();
                cmd.CommandText = PreCurrencyGold.CreateWithOneHourSql;
                await cmd.ExecuteNonQueryAsync();
            }

            var gold = await FpProcess.RunAsync(new Dictionary<string, string>(), "gold", "--data-dir", data.FullName);

            Assert.True(gold.ExitCode == 0, gold.Stderr);
            Assert.Matches("│ 2026-11-20 14:00 +│ MSFT +│ - +│ +1.0000 │", gold.Stdout);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Gold_held_by_a_writer_in_another_process_is_waited_for_then_explained()
    {
        var data = Directory.CreateTempSubdirectory("fp-gold-");
        try
        {
            Directory.CreateDirectory(Path.Combine(data.FullName, "warehouse"));
            var path = Path.Combine(data.FullName, "warehouse", "gold.duckdb");
            await using var writer = new DuckDBConnection($"Data Source={path}");
            await writer.OpenAsync();

            var gold = await FpProcess.RunAsync(new Dictionary<string, string>(), "gold", "--data-dir", data.FullName);
            var nope = await FpProcess.RunAsync(new Dictionary<string, string>(), "gold", "--data-dir", data.FullName, "--ticker", "NOPE");

            Assert.Equal(1, gold.ExitCode);
            Assert.StartsWith($"fp gold: {path} is held by another process", gold.Stderr, StringComparison.Ordinal);
            Assert.Contains("lock", gold.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }
}
