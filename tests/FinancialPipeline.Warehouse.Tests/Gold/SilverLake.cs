using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Warehouse.Tests.Gold;

/// <summary>
/// A throwaway buckets root with a silver bucket written as real Parquet in the pipeline's layout
/// (<c>{root}/{bucket}/financial_quotes/date=YYYY-MM-DD/part-NNNNN.parquet</c>), plus the DuckDB file next to it.
/// </summary>
internal sealed class SilverLake : IDisposable
{
    public const string Bucket = "fp-silver-test";

    public SilverLake()
    {
        Root = Path.Combine(Path.GetTempPath(), "fp-gold-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string BucketsRoot => Path.Combine(Root, "buckets");

    public string DatabasePath => Path.Combine(Root, "warehouse", "gold.duckdb");

    /// <summary>Every row written, all parts: what the oracle computes from.</summary>
    public List<BarRecord> Rows { get; } = [];

    /// <summary>
    /// Writes one part file per date (replacing that part); <paramref name="part"/> &gt; 0 adds extra files to a partition.
    /// Rows written to another <paramref name="bucket"/> (another job's silver) are not in <see cref="Rows"/>.
    /// </summary>
    public async Task WriteAsync(IEnumerable<BarRecord> rows, int part = 0, string bucket = Bucket)
    {
        foreach (var day in rows.GroupBy(r => DateOnly.FromDateTime(r.Bar.Timestamp.UtcDateTime)))
        {
            var name = ObjectLayout.SilverPartitionPrefix(day.Key) + $"part-{part:D5}.parquet";
            var path = Path.Combine(BucketsRoot, bucket, name.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (bucket == Bucket && File.Exists(path))
            {
                var previous = await ReadFileAsync(path);
                Rows.RemoveAll(r => previous.Contains(r));
            }

            var list = day.OrderBy(r => r.Bar.Ticker, StringComparer.Ordinal).ThenBy(r => r.Bar.Timestamp).ToList();
            await using (var file = File.Create(path))
            {
                await BarParquet.WriteAsync(file, list);
            }

            if (bucket == Bucket)
            {
                Rows.AddRange(list);
            }
        }
    }

    /// <summary>Rewrites the partition holding <paramref name="original"/> with the bar replaced (or removed when <paramref name="replacement"/> is null).</summary>
    public async Task ReplaceAsync(BarRecord original, BarRecord? replacement)
    {
        var date = DateOnly.FromDateTime(original.Bar.Timestamp.UtcDateTime);
        var path = Path.Combine(BucketsRoot, Bucket, ObjectLayout.SilverObject(date).Replace('/', Path.DirectorySeparatorChar));
        var rows = await ReadFileAsync(path);
        Assert.Contains(original, rows);
        var rewritten = rows.Where(r => r != original).ToList();
        if (replacement is { } r)
        {
            rewritten.Add(r);
        }

        await WriteAsync(rewritten);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a DuckDB handle closing late; the temp dir is unique, leaving it is harmless
        }
    }

    private static async Task<List<BarRecord>> ReadFileAsync(string path)
    {
        await using var file = File.OpenRead(path);
        return await BarParquet.ReadAsync(file);
    }
}

/// <summary>Random but reproducible silver: several bar styles, gaps, zero volumes, duplicate bars in a second part file.</summary>
internal static class RandomSilver
{
    public static readonly DateOnly FirstDay = new(2024, 3, 1);

    /// <summary>Every ticker <see cref="Generate"/> writes: the job the gold MERGEs of these tests run for.</summary>
    public static readonly IReadOnlyList<string> Tickers = ["AAPL", "BRK.B", "BTC-USD", "^GSPC"];

    /// <summary>
    /// <paramref name="days"/> days of bars from <see cref="FirstDay"/>: a US stock at :30 on weekdays (with a
    /// 9-day hole, longer than the return look-back), a 24/7 coin on the hour, a 15-minute ticker (several bars
    /// per hour), an index with zero volume. The second list re-states ~5% of the bars with a later ingestion.
    /// </summary>
    public static (List<BarRecord> Main, List<BarRecord> Restated) Generate(int seed, int days = 24)
    {
        var random = new Random(seed);
        var ingest = new DateTimeOffset(2024, 4, 1, 0, 0, 0, TimeSpan.Zero);
        var exec = Guid.Parse("11111111-1111-4111-8111-111111111111");
        var main = new List<BarRecord>();
        var prices = new Dictionary<string, double>(StringComparer.Ordinal);

        void Add(string ticker, DateTimeOffset ts, bool zeroVolume = false)
        {
            var last = prices.GetValueOrDefault(ticker, 50 + (random.NextDouble() * 200));
            var open = last * (1 + ((random.NextDouble() - 0.5) * 0.02));
            var close = open * (1 + ((random.NextDouble() - 0.5) * 0.03));
            var high = Math.Max(open, close) * (1 + (random.NextDouble() * 0.01));
            var low = Math.Min(open, close) * (1 - (random.NextDouble() * 0.01));
            var volume = zeroVolume || random.Next(20) == 0 ? 0 : random.NextInt64(1, 5_000_000);
            prices[ticker] = close;
            main.Add(new BarRecord(new QuoteBar(ts, ticker, open, high, low, close, null, volume), exec, ingest, "synthetic"));
        }

        for (var d = 0; d < days; d++)
        {
            var day = FirstDay.AddDays(d);
            var midnight = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            var weekday = day.DayOfWeek is not DayOfWeek.Saturday and not DayOfWeek.Sunday;
            if (weekday && (d < 10 || d > 18))
            {
                for (var h = 13; h <= 19; h++)
                {
                    if (random.Next(10) > 0)
                    {
                        Add("AAPL", midnight.AddHours(h).AddMinutes(30));
                    }
                }
            }

            for (var h = 0; h < 24; h++)
            {
                if (random.Next(6) > 0)
                {
                    Add("BTC-USD", midnight.AddHours(h));
                }
            }

            if (weekday)
            {
                for (var m = 14 * 60; m < 17 * 60; m += 15)
                {
                    if (random.Next(5) > 0)
                    {
                        Add("BRK.B", midnight.AddMinutes(m));
                    }
                }

                Add("^GSPC", midnight.AddHours(20), zeroVolume: true);
            }
        }

        var restated = main
            .Where(_ => random.Next(20) == 0)
            .Select(r => r with
            {
                Bar = r.Bar with { Close = r.Bar.Close * 1.01, High = r.Bar.High * 1.02, Volume = r.Bar.Volume + 7 },
                IngestedAt = r.IngestedAt.AddHours(1),
                ExecutionId = Guid.Parse("22222222-2222-4222-8222-222222222222"),
            })
            .ToList();
        return (main, restated);
    }
}
