using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Tests.Shared;

namespace FinancialPipeline.Warehouse.Tests;

/// <summary><c>fp quarantine</c>'s reader over quarantine files written as Transform writes them.</summary>
public sealed class DuckDbQuarantineReaderTests : IDisposable
{
    private static readonly DateTime FirstBar = new(2026, 11, 16, 14, 30, 0, DateTimeKind.Utc);
    private static readonly string[] Tickers = ["MSFT", "AAPL", "TSLA", "GOOGL"];
    private static readonly string[] Rules = ["volume_non_negative", "price_positive"];
    private readonly string _bucket = Path.Combine(Path.GetTempPath(), "fp-quarantine-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_bucket, recursive: true);

    [Fact]
    public async Task The_limit_keeps_the_newest_bars_newest_first_in_a_fixed_order()
    {
        // Seven days of quarantine in fourteen files: each day one execution sets aside every ticker's bar of seven
        // hours, and the next execution's overlap sets aside its last three hours again, so bars tie on time and on
        // ticker and only the full order (bar, ticker, rule, execution) decides which rows a limit keeps. The newest
        // rows are in the last files: a reader that trusts the files' bar_ts statistics returns an older day's.
        var rows = new List<Row>();
        for (var day = 0; day < 7; day++)
        {
            var date = DateOnly.FromDateTime(FirstBar.AddDays(day));
            foreach (var (execution, fromHour) in new[] { (Guid.NewGuid(), 0), (Guid.NewGuid(), 4) })
            {
                var file = (
                    from hour in Enumerable.Range(fromHour, 7 - fromHour)
                    from ticker in Tickers
                    select new Row(FirstBar.AddDays(day).AddHours(hour), ticker, Rules[(hour + ticker.Length) % Rules.Length], execution.ToString("D"))).ToList();
                await WriteAsync(date, execution, file);
                rows.AddRange(file);
            }
        }

        var newest = rows
            .OrderByDescending(r => r.BarTs).ThenBy(r => r.Ticker, StringComparer.Ordinal)
            .ThenBy(r => r.Rule, StringComparer.Ordinal).ThenBy(r => r.RejectedBy, StringComparer.Ordinal)
            .Take(5)
            .ToList();

        for (var run = 0; run < 5; run++)
        {
            var read = await DuckDbQuarantineReader.ReadAsync(_bucket, rejectedBy: null, allCopies: true, limit: 5, CancellationToken.None);

            Assert.NotNull(read);
            Assert.Equal(rows.Count, read.ByRule.Sum(r => r.Rows));
            Assert.Equal(newest, read.Newest.Select(r => new Row(r.BarTs.UtcDateTime, r.Ticker, r.Rule, r.RejectedBy)));
        }

        // By default one row per bar: the overlap's three hours were set aside twice, at the same ingestion time, so
        // the latest rejection is the greater rejected_by. No silver partition exists here: every bar is still quarantined.
        var latest = rows
            .GroupBy(r => (r.BarTs, r.Ticker))
            .Select(g => g.MaxBy(r => r.RejectedBy, StringComparer.Ordinal)!)
            .OrderByDescending(r => r.BarTs).ThenBy(r => r.Ticker, StringComparer.Ordinal)
            .ToList();
        var current = await DuckDbQuarantineReader.ReadAsync(_bucket, rejectedBy: null, allCopies: false, limit: 5, CancellationToken.None);
        Assert.NotNull(current);
        Assert.Equal(((long)rows.Count, (long)latest.Count, (long?)latest.Count), (current.Copies, current.DistinctBars, current.CurrentBars));
        Assert.True(latest.Count < rows.Count);
        Assert.Equal(latest.Count, current.ByRule.Sum(r => r.Rows));
        Assert.Equal(latest.Take(5), current.Newest.Select(r => new Row(r.BarTs.UtcDateTime, r.Ticker, r.Rule, r.RejectedBy)));
    }

    [Fact]
    public async Task Quarantine_objects_written_before_the_currency_columns_are_read_with_the_new_ones()
    {
        var date = DateOnly.FromDateTime(FirstBar);
        var current = Guid.NewGuid();
        await WriteAsync(date, current, [new Row(FirstBar, "MSFT", "price_positive", current.ToString("D"))]);
        var old = Guid.NewGuid();
        var oldPath = Path.Combine(_bucket, ObjectLayout.RejectedObject(date, old).Replace('/', Path.DirectorySeparatorChar));
        await using (var file = File.Create(oldPath))
        {
            var bar = new Core.Market.QuoteBar(new DateTimeOffset(FirstBar.AddHours(1)), "AAPL", 0, 11, 9, 10, null, 100);
            await PreCurrencyParquet.WriteRejectedAsync(file, [new BarRecord(bar, old, new DateTimeOffset(FirstBar.AddDays(8)), "synthetic")], "price_positive", old);
        }

        var read = await DuckDbQuarantineReader.ReadAsync(_bucket, rejectedBy: null, allCopies: false, limit: 10, CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal([("price_positive", 2L)], read.ByRule.Select(r => (r.Rule, r.Rows)));
        Assert.Equal(["AAPL", "MSFT"], read.Newest.Select(r => r.Ticker));
    }

    private async Task WriteAsync(DateOnly date, Guid execution, List<Row> rows)
    {
        var columns = new BarColumns(rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            columns.Timestamp[i] = rows[i].BarTs;
            columns.Ticker[i] = rows[i].Ticker;
            columns.Open[i] = rows[i].Rule == "price_positive" ? 0 : 10;
            columns.High[i] = 11;
            columns.Low[i] = 9;
            columns.Close[i] = 10;
            columns.Volume[i] = rows[i].Rule == "volume_non_negative" ? -1 : 100;
            columns.ExecutionId[i] = execution.ToString("D");
            columns.IngestedAt[i] = FirstBar.AddDays(8);
            columns.Provider[i] = "synthetic";
            columns.Currency[i] = "USD";
        }

        var path = Path.Combine(_bucket, ObjectLayout.RejectedObject(date, execution).Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using var file = File.Create(path);
        await BarParquet.WriteRejectedAsync(
            file, columns, rows.Select(r => r.Rule).ToArray(), rows.Select(r => $"{r.Rule} broken").ToArray(), execution);
    }

    private sealed record Row(DateTime BarTs, string Ticker, string Rule, string RejectedBy);
}
