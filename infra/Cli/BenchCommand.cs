using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using FinancialPipeline.Warehouse;
using DuckDB.NET.Data;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Cli;

/// <summary><c>fp bench …</c>: benchmarks whose last line is <c>RESULT name figure target target met|missed</c>.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks (each prints RESULT <name> <figure> target <target> <met|missed> last)");
        var runs = new Option<int>("--runs") { Description = "Measured runs", DefaultValueFactory = _ => 20 };
        var tickers = new Option<int>("--tickers") { Description = "Tickers per run", DefaultValueFactory = _ => 50 };
        var history = new Option<int>("--gold-history")
        {
            Description = "Tickers of another job whose year of hourly gold rows (8,760 each) is in the gold table before the runs: gold's cost as history grows",
            DefaultValueFactory = _ => 0,
        };
        var e2e = new Command("e2e", "Publish → gold SUCCESS latency of incremental runs through the emulator");
        e2e.Options.Add(runs);
        e2e.Options.Add(tickers);
        e2e.Options.Add(history);
        e2e.SetAction((parse, ct) => EndToEndAsync(parse.GetValue(runs), parse.GetValue(tickers), parse.GetValue(history), ct));
        bench.Subcommands.Add(e2e);
        bench.Subcommands.Add(ColdStartBench.Create());
        bench.Subcommands.Add(ExtractBench.Create());
        SilverBench.AddTo(bench);
        return bench;
    }

    private static async Task<int> EndToEndAsync(int runs, int tickerCount, int historyTickers, CancellationToken ct)
    {
        if (runs < 1 || tickerCount < 1 || historyTickers is < 0 or > 9999)
        {
            Console.Error.WriteLine("fp bench e2e: --runs and --tickers must be at least 1, --gold-history from 0 to 9999");
            return 2;
        }

        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        await using var infra = await LocalInfrastructure.StartAsync(loggers, ct);
        var dataDir = Path.Combine(Path.GetTempPath(), $"fp-bench-{Guid.NewGuid():N}");
        try
        {
            // The functions run on a bench clock, one trading hour per run, so every incremental run has one new
            // completed bar per ticker (plus the overlap) whatever the time of day the bench runs at: the latency of
            // a run in a session, reproducible. Timers (heartbeats) stay real.
            var schedule = HourlyRunsInSession(runs + 1);
            var clock = new BenchClock(schedule[0]);
            if (historyTickers > 0)
            {
                var rows = await SeedGoldHistoryAsync(dataDir, historyTickers, ct);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gold holds {rows:N0} rows of another job's history (2025, {historyTickers} tickers) before the runs"));
            }

            await using var pipeline = await LocalPipeline.StartAsync(
                infra,
                new LocalPipelineOptions { Prefix = "bench-", DataDirectory = dataDir, ConfigureFunction = (_, services) => services.AddSingleton<TimeProvider>(clock) },
                ct);
            await using var bench = await BenchJob.CreateAsync(infra.PostgresConnection, "bench_e2e", "synthetic", "T", 3, tickerCount, TimeSpan.FromDays(3), ct);
            var (job, ledger) = (bench.Job, bench.Ledger);

            Console.WriteLine($"e2e: {tickerCount} tickers, 1 warm-up run (first window: {job.Lookback.TotalDays:F0} days), then {runs} incremental runs at the hours {schedule[1]:yyyy-MM-dd HH:mm} … {schedule[^1]:yyyy-MM-dd HH:mm} UTC (one new bar each)");
            await RunOnceAsync(pipeline, ledger, job.JobName, clock.GetUtcNow(), ct);
            var latencies = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                clock.Now = schedule[i + 1];
                var ms = await RunOnceAsync(pipeline, ledger, job.JobName, clock.GetUtcNow(), ct);
                latencies.Add(ms);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  run {i + 1,2}: {ms,7:F1} ms"));
            }

            latencies.Sort();
            var p50 = BenchStatistics.Percentile(latencies, 0.50);
            var p90 = BenchStatistics.Percentile(latencies, 0.90);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"publish → gold SUCCESS: p50 {p50:F1} ms, p90 {p90:F1} ms, min {latencies[0]:F1} ms, max {latencies[^1]:F1} ms"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT e2e_p50_ms {p50:F1} target 1000 {(p50 <= 1000 ? "met" : "missed")}"));
            return 0;
        }
        finally
        {
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }

    /// <summary>
    /// Another job's year of hourly gold rows (tickers <c>H0000</c>…, all of 2025), written before the hosts start: the
    /// table's schema is the warehouse's own (a run that touched nothing creates it), the rows one INSERT.
    /// </summary>
    private static async Task<long> SeedGoldHistoryAsync(string dataDir, int tickers, CancellationToken ct)
    {
        var path = PipelineSettings.DuckDbPathIn(dataDir);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using (var create = new DuckDBConnection($"Data Source={path}"))
        {
            await create.OpenAsync(ct); // an empty file: the warehouse creates its table in an existing file
        }

        await new DuckDbGoldWarehouse(new DuckDbOptions { DatabasePath = path, BucketsRoot = Path.Combine(dataDir, "buckets") }, TimeProvider.System)
            .MergeHoursAsync(Guid.NewGuid(), 1, "bench-silver", ["H0000"], [], ct);
        await using var conn = new DuckDBConnection($"Data Source={path}");
        await conn.OpenAsync(ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = """
            SET TimeZone = 'UTC';
            INSERT INTO financial_data_hour
            SELECT 'H' || lpad(CAST(t AS VARCHAR), 4, '0'), h, 100, 101, 99, 100.5, 1000, 100.2, 12, 0.1, 2.0, 'history', h
            FROM range(0, $tickers) AS r(t),
                 generate_series(TIMESTAMPTZ '2025-01-01 00:00:00+00', TIMESTAMPTZ '2025-12-31 23:00:00+00', INTERVAL 1 HOUR) AS g(h)
            """;
        cmd.Parameters.Add(new DuckDBParameter("tickers", tickers));
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Run times five minutes after each of the <paramref name="count"/> hourly session bars from Wednesday
    /// 2026-11-18 09:30 New York on has completed: each run's newest completed bar is a new one.
    /// </summary>
    private static List<DateTimeOffset> HourlyRunsInSession(int count)
    {
        var from = new DateTimeOffset(2026, 11, 18, 14, 30, 0, TimeSpan.Zero);
        return [.. MarketCalendar.BarStarts(new TimeWindow(from, from.AddDays(14)), TimeSpan.FromHours(1))
            .Take(count)
            .Select(bar => bar + TimeSpan.FromHours(1) + TimeSpan.FromMinutes(5))];
    }

    private static async Task<double> RunOnceAsync(LocalPipeline pipeline, ExecutionLedger ledger, string jobName, DateTimeOffset scheduledAt, CancellationToken ct)
    {
        var start = new StartMessage(Guid.NewGuid(), jobName, scheduledAt, null);
        var clock = Stopwatch.StartNew();
        await pipeline.PubSub.PublishAsync(pipeline.Topology.StartTopic, [new PubsubMessage(start.ToUtf8Json(), start.Attributes())], ct);
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            var gold = await ledger.GetAsync(start.ExecutionId, Stage.Gold, ct);
            if (gold?.Status == "SUCCESS")
            {
                return clock.Elapsed.TotalMilliseconds;
            }

            await Task.Delay(5, ct);
        }

        throw new TimeoutException($"execution {start.ExecutionId} did not reach gold SUCCESS in 60 s");
    }
}

/// <summary>
/// <c>fp bench coldstart</c>: process start → first CloudEvent answered 2xx, for the Extract function host and
/// for a bare <c>WebApplication.CreateSlimBuilder</c> app, alternating, in the same run.
/// </summary>
internal static class ColdStartBench
{
    public static Command Create()
    {
        // 40, not 20: on one afternoon the ratio of 20-start runs spread over 1.16-1.23, that of 40-start runs over 1.16-1.18.
        var runs = new Option<int>("--runs") { Description = "Measured starts of each host", DefaultValueFactory = _ => 40 };
        var warmup = new Option<int>("--warmup") { Description = "Unmeasured starts of each host first (file cache, a fresh PostgreSQL cluster settling)", DefaultValueFactory = _ => 3 };
        var command = new Command("coldstart", "Function host cold start vs a bare CreateSlimBuilder app (target ≤ 1.2×)");
        command.Options.Add(runs);
        command.Options.Add(warmup);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(runs), parse.GetValue(warmup), ct));
        return command;
    }

    private static async Task<int> RunAsync(int runs, int warmup, CancellationToken ct)
    {
        if (runs < 1 || warmup < 0)
        {
            Console.Error.WriteLine("fp bench coldstart: --runs must be at least 1 and --warmup at least 0");
            return 2;
        }

        // Both apps are measured as deployed: `dotnet publish -c Release` (ReadyToRun for the web projects, see
        // Directory.Build.props), into a temp dir removed at the end.
        var root = RepoRoot.Find();
        var published = Directory.CreateTempSubdirectory("fp-coldstart-");
        try
        {
            var function = await PublishAsync(Path.Combine(root, "functions", "Extract", "FinancialPipeline.Functions.Extract.csproj"), Path.Combine(published.FullName, "extract"), ct);
            var bare = await PublishAsync(Path.Combine(root, "infra", "Bench.BareHost", "FinancialPipeline.Bench.BareHost.csproj"), Path.Combine(published.FullName, "bare"), ct);
            return await MeasureBothAsync(function, bare, runs, warmup, ct);
        }
        finally
        {
            published.Delete(recursive: true);
        }
    }

    private static async Task<string> PublishAsync(string project, string output, CancellationToken ct)
    {
        Console.WriteLine($"publishing {Path.GetFileNameWithoutExtension(project)} (Release) …");
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "publish", project, "-c", "Release", "-o", output, "-nologo", "-v", "quiet" })
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var arg in (Environment.GetEnvironmentVariable("FP_BENCH_PUBLISH_ARGS") ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            psi.ArgumentList.Add(arg); // e.g. "-p:SelfContained=true -p:PublishReadyToRunComposite=true" to compare deployment modes
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet publish {Path.GetFileName(project)} failed ({process.ExitCode}): {await stdout}{await stderr}");
        }

        return Path.Combine(output, Path.GetFileNameWithoutExtension(project) + ".dll");
    }

    private static async Task<int> MeasureBothAsync(string function, string bare, int runs, int warmup, CancellationToken ct)
    {
        // PostgreSQL only: the probe is rejected before anything is published, and the emulator's JVM, warming up
        // for its first half minute, would take CPU from the measured starts of both apps.
        await using var infra = await LocalInfrastructure.StartAsync(null, startEmulator: false, ct);
        // A start message for a job that does not exist: parsed, looked up in PostgreSQL, recorded as rejected, 200.
        var start = new StartMessage(Guid.NewGuid(), "coldstart_probe", null, null);
        var body = $$"""{"message":{"data":"{{Convert.ToBase64String(start.ToUtf8Json())}}","messageId":"1"},"subscription":"projects/p/subscriptions/s"}""";
        // Over the cluster's Unix-domain socket: a deployed function reaches Cloud SQL through the socket Cloud Run mounts
        // at /cloudsql/ (see the deployment plan), not over TCP.
        Console.WriteLine(
            !infra.StartedPostgres ? "control database as FP_POSTGRES_CONNECTION names it"
            : !string.Equals(infra.PostgresSocketConnection, infra.PostgresConnection, StringComparison.Ordinal) ? "control database over the cluster's Unix-domain socket, as Cloud Run reaches Cloud SQL"
            : "control database over TCP: the temp folder's path is too long for a Unix-domain socket");
        var env = new Dictionary<string, string>
        {
            ["FP_POSTGRES_CONNECTION"] = infra.PostgresSocketConnection,
            // Set so that nothing could ever reach the real Pub/Sub; port 9 (discard) is closed on loopback.
            ["PUBSUB_EMULATOR_HOST"] = infra.EmulatorHost is { Length: > 0 } host ? host : "127.0.0.1:9",
            ["FP_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "fp-coldstart"),
            ["Logging__LogLevel__Default"] = "Warning",
            ["K_SERVICE"] = "fp-extract", // set by Cloud Run: the host logs JSON for Cloud Logging, as deployed
            ["FP_MIGRATE_ON_START"] = Environment.GetEnvironmentVariable("FP_MIGRATE_ON_START") ?? "true",
        };
        for (var i = 0; i < warmup; i++)
        {
            // The first starts after publishing and after initdb are slower for both apps; they are not measured.
            await MeasureAsync(bare, body, env, ct);
            await MeasureAsync(function, body, env, ct);
        }

        var fn = new List<double>();
        var baseline = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            baseline.Add(await MeasureAsync(bare, body, env, ct));
            fn.Add(await MeasureAsync(function, body, env, ct));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  run {i + 1,2}: bare {baseline[^1],6:F0} ms   extract {fn[^1],6:F0} ms"));
        }

        var ratio = BenchStatistics.Median(fn) / BenchStatistics.Median(baseline);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median cold start: bare {BenchStatistics.Median(baseline):F0} ms, extract function {BenchStatistics.Median(fn):F0} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT coldstart_ratio {ratio:F2} target 1.2 {(ratio <= 1.2 ? "met" : "missed")}"));
        return 0;
    }

    private static async Task<double> MeasureAsync(string dll, string body, Dictionary<string, string> env, CancellationToken ct)
    {
        var port = LoopbackPorts.Free();
        // Started from its own directory, as Cloud Run starts the image's app: the content root is watched for
        // configuration changes, recursively, and from a repository root that walk alone took ≈30 ms of each start.
        var psi = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        psi.ArgumentList.Add(dll);
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        psi.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                // Until the port accepts, probe it with a bare connect: a failed HTTP request costs the bench an
                // exception through several async frames every 2 ms, CPU taken from the app being measured.
                if (!await AcceptsConnectionsAsync(port))
                {
                    await Task.Delay(2, ct);
                    continue;
                }

                try
                {
                    using var response = await http.PostAsync($"http://127.0.0.1:{port}/", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), ct);
                    if (response.IsSuccessStatusCode)
                    {
                        return clock.Elapsed.TotalMilliseconds;
                    }

                    throw new InvalidOperationException($"{Path.GetFileName(dll)} answered {(int)response.StatusCode}");
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(2, ct);
                }
            }

            throw new TimeoutException($"{Path.GetFileName(dll)} did not answer within 30 s");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    /// <summary>One TCP connect to loopback; the outcome comes back as a socket error code, not as an exception.</summary>
    private static async Task<bool> AcceptsConnectionsAsync(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var connect = new SocketAsyncEventArgs { RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, port) };
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connect.Completed += (_, _) => completed.TrySetResult();
        if (socket.ConnectAsync(connect))
        {
            await completed.Task;
        }

        return connect.SocketError == SocketError.Success;
    }
}

/// <summary>A clock the e2e bench sets to each scheduled run; timers are the system's.</summary>
internal sealed class BenchClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}
