using DuckDB.NET.Data;
using FinancialPipeline.Core.Parquet;

namespace FinancialPipeline.Warehouse.Tests.Gold;

internal sealed record GoldRow(
    string Ticker,
    DateTimeOffset Hour,
    double Open,
    double High,
    double Low,
    double Close,
    long Volume,
    double? Vwap,
    long BarCount,
    double? ReturnPct,
    double? RangePct,
    string? ExecutionId = null,
    DateTimeOffset? UpdatedAt = null);

/// <summary>
/// The gold aggregates computed independently of any SQL: plain LINQ over the silver rows, written from the
/// column definitions in the README (Gold layer), not from the MERGE.
/// </summary>
internal static class GoldOracle
{
    public static List<GoldRow> Compute(IEnumerable<BarRecord> silver)
    {
        // A (ticker, bar_ts) stated twice counts once: the newest ingestion wins.
        var bars = silver
            .GroupBy(r => (r.Bar.Ticker, r.Bar.Timestamp))
            .Select(g => g.OrderByDescending(r => r.IngestedAt).ThenByDescending(r => r.ExecutionId.ToString("D"), StringComparer.Ordinal).First().Bar);

        var hours = bars
            .GroupBy(b => (b.Ticker, Hour: new DateTimeOffset(b.Timestamp.UtcDateTime.Date.AddHours(b.Timestamp.UtcDateTime.Hour), TimeSpan.Zero)))
            .Select(g =>
            {
                var ordered = g.OrderBy(b => b.Timestamp).ToList();
                var volume = ordered.Sum(b => b.Volume);
                double? vwap = volume > 0 ? ordered.Sum(b => (b.High + b.Low + b.Close) / 3 * b.Volume) / volume : null;
                var high = ordered.Max(b => b.High);
                var low = ordered.Min(b => b.Low);
                double? range = low > 0 ? (high - low) / low * 100 : null;
                return new GoldRow(g.Key.Ticker, g.Key.Hour, ordered[0].Open, high, low, ordered[^1].Close, volume, vwap, ordered.Count, null, range);
            });

        var result = new List<GoldRow>();
        foreach (var ticker in hours.GroupBy(h => h.Ticker))
        {
            GoldRow? previous = null;
            foreach (var hour in ticker.OrderBy(h => h.Hour))
            {
                var comparable = previous is not null && hour.Hour - previous.Hour <= TimeSpan.FromDays(GoldScope.ReturnLookbackDays) && previous.Close > 0;
                result.Add(hour with { ReturnPct = comparable ? (hour.Close / previous!.Close - 1) * 100 : null });
                previous = hour;
            }
        }

        return [.. result.OrderBy(r => r.Ticker, StringComparer.Ordinal).ThenBy(r => r.Hour)];
    }

    /// <summary>Every gold row of the DuckDB file, ordered by (ticker, hour).</summary>
    public static async Task<List<GoldRow>> ReadDuckDbAsync(string databasePath)
    {
        await using var conn = new DuckDBConnection($"Data Source={databasePath}");
        await conn.OpenAsync();
        await using (var tz = conn.CreateCommand())
        {
            tz.CommandText = "SET TimeZone = 'UTC'";
            await tz.ExecuteNonQueryAsync();
        }

        await using var cmd = conn.CreateCommand();
        cmd.CommandText = """
            SELECT ticker, "hour", open, high, low, close, volume, vwap, bar_count, return_pct, range_pct, execution_id, updated_at
            FROM financial_data_hour ORDER BY ticker, "hour"
            """;
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<GoldRow>();
        while (await r.ReadAsync())
        {
            double? Nullable(int i) => r.IsDBNull(i) ? null : r.GetDouble(i);
            rows.Add(new GoldRow(
                r.GetString(0), Utc(r.GetDateTime(1)), r.GetDouble(2), r.GetDouble(3), r.GetDouble(4), r.GetDouble(5),
                r.GetInt64(6), Nullable(7), r.GetInt64(8), Nullable(9), Nullable(10), r.GetString(11), Utc(r.GetDateTime(12))));
        }

        return rows;
    }

    /// <summary>Same keys, and every column equal (floats within 1e-9 relative).</summary>
    public static void AssertSameAggregates(IReadOnlyList<GoldRow> expected, IReadOnlyList<GoldRow> actual)
    {
        Assert.Equal(expected.Select(r => (r.Ticker, r.Hour)), actual.Select(r => (r.Ticker, r.Hour)));
        for (var i = 0; i < expected.Count; i++)
        {
            var e = expected[i];
            var a = actual[i];
            var where = $"{e.Ticker} {e.Hour:O}";
            Assert.True(e.Open == a.Open, $"{where} open {a.Open} != {e.Open}");
            Assert.True(e.High == a.High, $"{where} high {a.High} != {e.High}");
            Assert.True(e.Low == a.Low, $"{where} low {a.Low} != {e.Low}");
            Assert.True(e.Close == a.Close, $"{where} close {a.Close} != {e.Close}");
            Assert.True(e.Volume == a.Volume, $"{where} volume {a.Volume} != {e.Volume}");
            Assert.True(e.BarCount == a.BarCount, $"{where} bar_count {a.BarCount} != {e.BarCount}");
            AssertClose(e.Vwap, a.Vwap, where + " vwap");
            AssertClose(e.ReturnPct, a.ReturnPct, where + " return_pct");
            AssertClose(e.RangePct, a.RangePct, where + " range_pct");
        }
    }

    private static void AssertClose(double? expected, double? actual, string what)
    {
        Assert.True(expected.HasValue == actual.HasValue, $"{what}: {actual?.ToString() ?? "NULL"} but expected {expected?.ToString() ?? "NULL"}");
        if (expected is { } e && actual is { } a)
        {
            Assert.True(Math.Abs(e - a) <= 1e-9 * Math.Max(1, Math.Abs(e)), $"{what}: {a} but expected {e}");
        }
    }

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
