using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using DuckDB.NET.Data;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp bench silver</c>: generates a bronze backfill (hourly US bars of many tickers, consecutive executions
/// overlapping by ~3 %, late corrections in the overlap, ~1 % invalid rows), then times the Transform engine
/// against DuckDB doing the same validation + de-duplication + date-partitioned Parquet write (silver and
/// quarantine) on the same files. Each run is a fresh child process (<c>fp bench silver-worker</c>), alternating
/// engines, so each figure is that engine's own wall time and peak RSS (VmHWM), not the parent's or the other's.
/// </summary>
internal static class SilverBench
{
    private const int BarsPerDay = 7;
    private const int OverlapDays = 1;
    private const string BronzeBucket = "bench-bronze";
    private const string SilverBucket = "bench-silver";
    private static readonly DateTimeOffset FirstDay = new(2019, 1, 7, 0, 0, 0, TimeSpan.Zero); // a Monday

    public static void AddTo(Command bench)
    {
        var rows = CheckedOptions.WholeNumber("--rows", "Approximate bronze rows (at least two executions' worth are generated)", defaultValue: 5_000_000, min: 1);
        var tickers = CheckedOptions.WholeNumber("--tickers", "Tickers", defaultValue: 500, min: 1);
        var runs = CheckedOptions.WholeNumber("--runs", "Runs of each engine (medians reported)", defaultValue: 3, min: 1);
        var dataDir = new Option<string?>("--data-dir") { Description = "Keep (or reuse, when it holds a generated backfill) the bench data here instead of a deleted temp directory" };
        var command = new Command("silver", "Transform (silver) vs DuckDB on a ~5 M-row bronze backfill (target ≤ 1.0× DuckDB's time, peak RSS ≤ 512 MB)");
        command.Options.Add(rows);
        command.Options.Add(tickers);
        command.Options.Add(runs);
        command.Options.Add(dataDir);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(rows), parse.GetValue(tickers), parse.GetValue(runs), parse.GetValue(dataDir), ct));
        bench.Subcommands.Add(command);

        var engine = new Argument<string>("engine") { Description = "fp | duckdb" };
        var dir = new Argument<string>("dir") { Description = "bench data directory" };
        var worker = new Command("silver-worker", "One measured run of `bench silver` (internal)") { Hidden = true };
        worker.Arguments.Add(engine);
        worker.Arguments.Add(dir);
        worker.SetAction((parse, ct) => WorkerAsync(parse.GetValue(engine)!, parse.GetValue(dir)!, ct));
        bench.Subcommands.Add(worker);
    }

    private static async Task<int> RunAsync(int targetRows, int tickerCount, int runs, string? dataDir, CancellationToken ct)
    {
        var dir = Path.GetFullPath(dataDir ?? Path.Combine(Path.GetTempPath(), $"fp-bench-silver-{Guid.NewGuid():N}"));
        try
        {
            if (File.Exists(Path.Combine(dir, "batch.txt")))
            {
                Console.WriteLine($"bronze: reusing the backfill in {dir}");
            }
            else
            {
                var clock = Stopwatch.StartNew();
                var generated = await GenerateAsync(dir, targetRows, tickerCount, ct);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"bronze: {generated.Rows:N0} rows in {generated.Objects} executions ({tickerCount} tickers × {BarsPerDay} hourly bars × {generated.DaysPerExecution} weekdays each, {OverlapDays} day overlap), {generated.Invalid:N0} invalid, {generated.Bytes / 1048576.0:F0} MiB, generated in {clock.Elapsed.TotalSeconds:F1} s"));
            }

            var fp = new List<WorkerResult>();
            var duck = new List<WorkerResult>();
            for (var i = 0; i < runs; i++)
            {
                fp.Add(await RunWorkerAsync("fp", dir, ct));
                duck.Add(await RunWorkerAsync("duckdb", dir, ct));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  run {i + 1}: transform {fp[^1].Seconds,6:F2} s ({fp[^1].PeakRssMb,4:F0} MB peak RSS)   duckdb {duck[^1].Seconds,6:F2} s ({duck[^1].PeakRssMb,4:F0} MB peak RSS)"));
            }

            var same = fp.Concat(duck).Select(r => (r.SilverRows, r.Rejected)).Distinct().ToList();
            Console.WriteLine(same.Count == 1
                ? string.Create(CultureInfo.InvariantCulture, $"both engines wrote {same[0].SilverRows:N0} silver rows and quarantined {same[0].Rejected:N0}")
                : $"OUTPUTS DIFFER: {string.Join("; ", fp.Concat(duck).Select(r => $"{r.Engine}: {r.SilverRows} silver, {r.Rejected} rejected"))}");
            var fpTime = BenchStatistics.Median(fp.Select(r => r.Seconds));
            var duckTime = BenchStatistics.Median(duck.Select(r => r.Seconds));
            var fpRss = fp.Max(r => r.PeakRssMb);
            var ratio = fpTime / duckTime;
            var met = same.Count == 1 && ratio <= 1.0 && fpRss <= 512;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"median: transform {fpTime:F2} s, duckdb {duckTime:F2} s → {ratio:F2}× (target ≤ 1.0×); transform peak RSS {fpRss:F0} MB (target ≤ 512 MB), duckdb {duck.Max(r => r.PeakRssMb):F0} MB"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT silver_vs_duckdb_ratio {ratio:F2} target 1.0 {(met ? "met" : "missed")}"));
            return 0;
        }
        finally
        {
            if (dataDir is null && Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private sealed record Generated(long Rows, int Objects, int DaysPerExecution, long Invalid, long Bytes);

    private sealed record WorkerResult(string Engine, double Seconds, double PeakRssMb, long SilverRows, long Rejected);

    /// <summary>The backfill: execution e covers weekdays [e·(d−1), e·(d−1)+d), so consecutive executions share one day.</summary>
    private static async Task<Generated> GenerateAsync(string dir, int targetRows, int tickerCount, CancellationToken ct)
    {
        var tickers = Enumerable.Range(1, tickerCount).Select(i => $"T{i:D4}").ToList();
        var daysPerExecution = 34;
        var step = daysPerExecution - OverlapDays;
        var perExecution = tickerCount * BarsPerDay * daysPerExecution;
        var executions = Math.Max(2, (int)Math.Round((double)targetRows / perExecution));
        var totalDays = (step * (executions - 1)) + daysPerExecution;
        var days = Weekdays(totalDays);
        var now = days[^1].AddDays(1);
        var store = new FileSystemObjectStore(Path.Combine(dir, "buckets"));
        var objects = new List<string>();
        long rows = 0, invalid = 0, bytes = 0;
        for (var e = 0; e < executions; e++)
        {
            var executionId = DeterministicGuid(e);
            var ingestedAt = days[(e * step) + daysPerExecution - 1].AddDays(1).AddMinutes(5);
            var batch = new List<BarRecord>(perExecution + (perExecution / 100));
            foreach (var ticker in tickers)
            {
                var basePrice = 20 + (Hash(ticker.GetHashCode(StringComparison.Ordinal) & 0xffff, 0) % 400);
                for (var d = e * step; d < (e * step) + daysPerExecution; d++)
                {
                    for (var b = 0; b < BarsPerDay; b++)
                    {
                        var ts = days[d].AddHours(14).AddMinutes(30).AddHours(b);
                        var h = Hash(d * BarsPerDay + b, basePrice);
                        var open = basePrice + (h % 1000 / 100.0);
                        var close = open + ((h / 1000 % 200) - 100) / 100.0;
                        // The later execution's copy of an overlap day is a late correction: a revised close and volume.
                        var corrected = e > 0 && d < e * step + OverlapDays;
                        if (corrected)
                        {
                            close += 0.01;
                        }

                        var bar = new QuoteBar(ts, ticker, open, Math.Max(open, close) + 0.5, Math.Min(open, close) - 0.5, close, null, 1000 + (h % 5000) + (corrected ? 7 : 0));
                        var rowHash = Hash(e, (int)(ts.Ticks / TimeSpan.TicksPerHour) ^ ticker.GetHashCode(StringComparison.Ordinal));
                        if (rowHash % 100 == 0)
                        {
                            invalid++;
                            switch (rowHash / 100 % 7)
                            {
                                case 0: bar = bar with { Open = -bar.Open }; break;
                                case 1: bar = bar with { High = bar.Low - 1 }; break;
                                case 2: bar = bar with { Volume = -5 }; break;
                                case 3: bar = bar with { Timestamp = bar.Timestamp.AddMinutes(7) }; break;
                                case 4: bar = bar with { Timestamp = now.AddDays(3) }; break;
                                case 5: bar = bar with { Ticker = "ZZZZ" }; break;
                                default: batch.Add(new BarRecord(bar, executionId, ingestedAt, "bench")); break; // exact duplicate
                            }
                        }

                        batch.Add(new BarRecord(bar, executionId, ingestedAt, "bench"));
                    }
                }
            }

            var name = ObjectLayout.BronzeObject(ingestedAt, executionId);
            using var buffer = new MemoryStream();
            await BarParquet.WriteAsync(buffer, batch, cancellationToken: ct);
            bytes += buffer.Length;
            buffer.Position = 0;
            await store.UploadObjectAsync(BronzeBucket, name, "application/vnd.apache.parquet", buffer, cancellationToken: ct);
            objects.Add(name);
            rows += batch.Count;
        }

        var job = $"{string.Join(',', tickers)}\n{now.UtcTicks}\n{string.Join('\n', objects)}";
        await File.WriteAllTextAsync(Path.Combine(dir, "batch.txt"), job, ct);
        return new Generated(rows, executions, daysPerExecution, invalid, bytes);
    }

    private static List<DateTimeOffset> Weekdays(int count)
    {
        var days = new List<DateTimeOffset>(count);
        for (var d = FirstDay; days.Count < count; d = d.AddDays(1))
        {
            if (d.DayOfWeek is not (DayOfWeek.Saturday or DayOfWeek.Sunday))
            {
                days.Add(d);
            }
        }

        return days;
    }

    private static int Hash(int a, int b)
    {
        var x = unchecked((uint)((a * 73856093) ^ (b * 19349663)) + 0x9E3779B9u);
        x ^= x >> 16;
        x *= 0x7feb352d;
        x ^= x >> 15;
        x *= 0x846ca68b;
        x ^= x >> 16;
        return (int)(x & 0x7fffffff);
    }

    private static Guid DeterministicGuid(int i) => new($"{i + 1:x8}-0000-4000-8000-000000000000");

    private static async Task<WorkerResult> RunWorkerAsync(string engine, string dir, CancellationToken ct)
    {
        var output = Path.Combine(dir, "out");
        if (Directory.Exists(output))
        {
            Directory.Delete(output, recursive: true);
        }

        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fp.dll"));
        psi.ArgumentList.Add("bench");
        psi.ArgumentList.Add("silver-worker");
        psi.ArgumentList.Add(engine);
        psi.ArgumentList.Add(dir);
        // A Cloud Run instance with 512 MiB: .NET reads the cgroup limit and caps its heap at 75 % of it. The
        // bench has no cgroup, so it sets the same cap explicitly — for both engines (DuckDB's memory is native).
        psi.Environment["DOTNET_GCHeapHardLimit"] = "0x18000000";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the bench worker");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var line = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.StartsWith("WORKER ", StringComparison.Ordinal));
        if (process.ExitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"{engine} worker failed (exit {process.ExitCode}): {await stderr}{await stdout}");
        }

        var f = line.Split(' ');
        return new WorkerResult(engine, double.Parse(f[1], CultureInfo.InvariantCulture), double.Parse(f[2], CultureInfo.InvariantCulture) / 1024, long.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture));
    }

    /// <summary>One measured run in this (fresh) process: prints <c>WORKER seconds vmhwm_kb silver_rows rejected</c>.</summary>
    private static async Task<int> WorkerAsync(string engine, string dir, CancellationToken ct)
    {
        var lines = (await File.ReadAllTextAsync(Path.Combine(dir, "batch.txt"), ct)).Split('\n');
        var now = new DateTimeOffset(long.Parse(lines[1], CultureInfo.InvariantCulture), TimeSpan.Zero);
        var objects = lines.Skip(2).ToList();
        var job = JobConfig.Create("bench_silver", lines[0], 3600, 3600, BronzeBucket, SilverBucket, "synthetic", "1h", 86400, true);
        var output = Path.Combine(dir, "out");
        Directory.CreateDirectory(output);
        var clock = Stopwatch.StartNew();
        long silverRows, rejected;
        if (engine == "fp")
        {
            var store = new FileSystemObjectStore(Path.Combine(output, "buckets"));
            LinkBronze(Path.Combine(dir, "buckets"), store.Root);
            var engineImpl = new SilverEngine(store, new SilverEngineOptions { WorkDirectory = output });
            using var staged = await engineImpl.StageAsync(new SilverBatch(job, Guid.NewGuid(), objects, now), ct);
            await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"stage {clock.Elapsed.TotalSeconds:F2} s, {staged.SpilledRows} rows spilled"));
            var result = await engineImpl.CommitAsync(staged, _ => Task.CompletedTask, ct);
            clock.Stop();
            silverRows = result.Metrics["silver_rows_in_rewritten_partitions"];
            rejected = result.Rejected;
        }
        else
        {
            (silverRows, rejected) = await DuckDbAsync(job, now, objects.Select(o => Path.Combine(dir, "buckets", BronzeBucket, o)).ToList(), output, ct);
            clock.Stop();
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"WORKER {clock.Elapsed.TotalSeconds:F3} {PeakRssKb()} {silverRows} {rejected}"));
        return 0;
    }

    /// <summary>The fp store reads bronze through its own bucket directory: a symlink, so nothing is copied before timing.</summary>
    private static void LinkBronze(string sourceBuckets, string targetRoot) =>
        Directory.CreateSymbolicLink(Path.Combine(targetRoot, BronzeBucket), Path.Combine(sourceBuckets, BronzeBucket));

    /// <summary>
    /// The same rules in the same order, in-batch duplicates (last occurrence kept), newest ingestion wins,
    /// rows sorted by (ticker, bar_ts), silver and quarantine written as date-partitioned Parquet.
    /// </summary>
    private static async Task<(long Silver, long Rejected)> DuckDbAsync(JobConfig job, DateTimeOffset now, List<string> files, string output, CancellationToken ct)
    {
        await using var conn = new DuckDBConnection("Data Source=:memory:");
        await conn.OpenAsync(ct);
        var fileList = "[" + string.Join(", ", files.Select(f => "'" + f.Replace("'", "''", StringComparison.Ordinal) + "'")) + "]";
        var tickers = string.Join(", ", job.Tickers.Select(t => "'" + t + "'"));
        var cutoff = (now - job.BarSize).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        var silverDir = Path.Combine(output, "silver");
        var rejectedDir = Path.Combine(output, "rejected");
        await ExecAsync(conn, "SET TimeZone = 'UTC'", ct);
        await ExecAsync(conn, $"""
            CREATE TEMP TABLE checked AS
            WITH src AS (
                SELECT * FROM read_parquet({fileList}, filename = true, file_row_number = true)
            ), ruled AS (
                SELECT *, CASE
                    WHEN open IS NULL OR high IS NULL OR low IS NULL OR close IS NULL
                         OR NOT (open > 0 AND high > 0 AND low > 0 AND close > 0)
                         OR NOT (isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close))
                         OR (adj_close IS NOT NULL AND NOT (adj_close > 0 AND isfinite(adj_close))) THEN 'price_positive'
                    WHEN NOT (low <= open AND low <= close AND open <= high AND close <= high) THEN 'high_low_bounds'
                    WHEN volume < 0 THEN 'volume_non_negative'
                    WHEN volume > {SilverRules.MaxVolume} THEN 'volume_plausible'
                    WHEN epoch_us(bar_ts) % {SilverRules.AlignmentOf(job.BarSize).Ticks / 10} <> 0 THEN 'timestamp_aligned'
                    WHEN bar_ts > TIMESTAMPTZ '{cutoff}+00' THEN 'not_in_future'
                    WHEN ticker NOT IN ({tickers}) THEN 'ticker_in_job'
                END AS rule
                FROM src
            )
            SELECT * REPLACE (CASE WHEN rule IS NULL AND row_number() OVER (PARTITION BY filename, ticker, bar_ts, rule IS NULL ORDER BY file_row_number DESC) > 1
                                   THEN 'duplicate_in_batch' ELSE rule END AS rule),
                   CAST(bar_ts AS DATE) AS date
            FROM ruled
            """, ct);
        await ExecAsync(conn, $"""
            COPY (
                SELECT bar_ts, ticker, open, high, low, close, adj_close, volume, execution_id, ingested_at, provider, date
                FROM checked WHERE rule IS NULL
                QUALIFY row_number() OVER (PARTITION BY ticker, bar_ts ORDER BY ingested_at DESC, execution_id DESC, filename DESC) = 1
                ORDER BY date, ticker, bar_ts
            ) TO '{silverDir}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (date))
            """, ct);
        await ExecAsync(conn, $"""
            COPY (
                SELECT bar_ts, ticker, open, high, low, close, adj_close, volume, execution_id, ingested_at, provider,
                       rule, rule AS reason, '00000000-0000-0000-0000-000000000000' AS rejected_by, date
                FROM checked WHERE rule IS NOT NULL ORDER BY filename, file_row_number
            ) TO '{rejectedDir}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (date))
            """, ct);
        var silver = await ScalarAsync(conn, $"SELECT count(*) FROM read_parquet('{silverDir}/**/*.parquet')", ct);
        var rejected = await ScalarAsync(conn, $"SELECT count(*) FROM read_parquet('{rejectedDir}/**/*.parquet')", ct);
        return (silver, rejected);
    }

    private static async Task ExecAsync(DuckDBConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
#pragma warning disable CA2100 // the DuckDB baseline's own statements over the temp directories this bench created
        cmd.CommandText = sql;
#pragma warning restore CA2100
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<long> ScalarAsync(DuckDBConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
#pragma warning disable CA2100 // the DuckDB baseline's own statements over the temp directories this bench created
        cmd.CommandText = sql;
#pragma warning restore CA2100
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
    }

    private static long PeakRssKb()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }
}
