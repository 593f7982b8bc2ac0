using DuckDB.NET.Data;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;

namespace FinancialPipeline.Warehouse.Tests;

/// <summary>
/// The min/max statistics of a bronze/silver file's timestamps, as DuckDB reads them: a reader that prunes on them
/// (DuckDB's filters and top-N, BigQuery external tables) skips a file whose statistics lie.
/// </summary>
public sealed class BarParquetStatisticsTests
{
    [Fact]
    public async Task Timestamp_statistics_are_the_rows_own_first_and_last_instants()
    {
        var first = new DateTimeOffset(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
        var ingested = new DateTimeOffset(2026, 11, 20, 21, 5, 7, 123, TimeSpan.Zero);
        var execution = Guid.NewGuid();
        var rows = Enumerable.Range(0, 7)
            .Select(h => new BarRecord(new QuoteBar(first.AddHours(h), "AAPL", 10, 11, 9, 10.5, null, 100), execution, ingested.AddSeconds(h), "synthetic"))
            .ToList();
        var path = Path.Combine(Path.GetTempPath(), $"fp-stats-{Guid.NewGuid():N}.parquet");
        try
        {
            await using (var file = File.Create(path))
            {
                await BarParquet.WriteAsync(file, rows);
            }

            await using var duck = new DuckDBConnection("Data Source=:memory:");
            await duck.OpenAsync();
            await using var cmd = duck.CreateCommand();
            cmd.CommandText = $"SET TimeZone = 'UTC'; SELECT path_in_schema, stats_min_value, stats_max_value FROM parquet_metadata('{path}') WHERE path_in_schema IN ('bar_ts', 'ingested_at') ORDER BY path_in_schema";
            var stats = new List<(string Column, string Min, string Max)>();
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    stats.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
                }
            }

            Assert.Equal(
                [
                    ("bar_ts", "2026-11-20 14:30:00+00", "2026-11-20 20:30:00+00"),
                    ("ingested_at", "2026-11-20 21:05:07.123+00", "2026-11-20 21:05:13.123+00"),
                ],
                stats);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
