using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <c>fp up</c> as an operator runs it: a child process whose printed <c>export</c> lines are the whole interface,
/// a start message published through them, and SIGTERM (what Ctrl+C and <c>docker stop</c> send) to end it.
/// </summary>
public sealed partial class CliUpTests
{
    [Fact]
    public async Task Up_PrintsAnEnvironmentThatRunsThePipeline_AndSigtermStopsEverythingItStarted()
    {
        var data = Directory.CreateTempSubdirectory("fp-up-");
        using var fp = Process.Start(FpProcess.WithOwnStack(FpProcess.StartInfo("up", "--data-dir", data.FullName, "--for", "300")))!;
        var stderr = fp.StandardError.ReadToEndAsync();
        try
        {
            var (output, reader, exports) = await ReadUntilReadyAsync(fp);
            IReadOnlyList<int> started = output.Select(l => StartedLine().Match(l)).Where(m => m.Success)
                .SelectMany(m => m.Groups["pids"].Value.Split(", ").Select(p => int.Parse(p, CultureInfo.InvariantCulture))).ToList();
            Assert.False(fp.HasExited, "fp up exited before it was up: " + string.Join('\n', output));
            Assert.True(started.Count == 2 && exports.Count == 6, "unexpected fp up output:\n" + string.Join('\n', output));
            var processes = started.SelectMany(ProcessTrees.Of).ToList();

            // Everything below uses only what fp up printed, as another shell would.
            var pubSub = PubSubRestClient.Create(new PubSubOptions { ProjectId = exports["FP_PROJECT_ID"], EmulatorHost = exports["PUBSUB_EMULATOR_HOST"] });
            var start = new StartMessage(Guid.NewGuid(), "financial_extract", TimeProvider.System.GetUtcNow(), Window: null);
            await pubSub.PublishAsync(exports["FP_TOPIC_PREFIX"] + "start", [new PubsubMessage(start.ToUtf8Json(), start.Attributes())]);
            await using (var dataSource = ControlDbDataSource.Create(exports["FP_POSTGRES_CONNECTION"]))
            {
                var ledger = new ExecutionLedger(dataSource, TimeProvider.System, new LedgerOptions());
                await Eventually.WaitAsync(
                    async () => (await ledger.ListAsync(start.ExecutionId, CancellationToken.None)).Any(r => r.Stage == StageNames.Gold && r.Status == "SUCCESS"),
                    TimeSpan.FromSeconds(60),
                    "gold SUCCESS of the execution published through fp up's environment");
            }

            Assert.Equal(data.FullName, exports["FP_DATA_DIR"]);
            // The data directory is this stack's while it runs: a second one is refused before it starts anything.
            var second = await FpProcess.RunAsync(FpProcess.WithOwnStack(FpProcess.StartInfo("run", "--data-dir", data.FullName)));
            Assert.True(second.ExitCode == 2, $"a second stack on {data.FullName} exited {second.ExitCode}: {second.Stdout}{second.Stderr}");
            Assert.StartsWith($"fp run: --data-dir '{data.FullName}' is in use by another fp up or fp run", second.Stderr, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(data.FullName, "warehouse", "gold.duckdb")));
            // Gold is readable while fp up runs: the Aggregate host holds the DuckDB file only during a MERGE.
            var gold = await FpProcess.RunAsync(exports, "gold", "--limit", "3");
            Assert.True(gold.ExitCode == 0, gold.Stderr);
            Assert.Matches("financial_data_hour holds [0-9]+ row\\(s\\), 10 ticker\\(s\\)", gold.Stdout);
            Assert.Contains(start.ExecutionId.ToString("D"), gold.Stdout, StringComparison.Ordinal);

            await FpProcess.TerminateAsync(fp);

            await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await reader;
            Assert.True(fp.ExitCode == 0, $"fp up exited {fp.ExitCode}: {await stderr}");
            await ProcessTrees.WaitGoneAsync(processes, TimeSpan.FromSeconds(10));
        }
        finally
        {
            await FpProcess.StopAsync(fp);

            data.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("up", "--for", "30")]
    [InlineData("run")]
    public async Task AMalformedSlackWebhook_FailsTheStartInOneLineNamingIt_NeverShowingTheSecret(params string[] args)
    {
        // Was: three hosts torn down mid-start ("startup task warm-up failed … ObjectDisposedException"), then an
        // unhandled exception with its stack trace and exit 134.
        var data = Directory.CreateTempSubdirectory("fp-up-slack-");
        var psi = FpProcess.WithOwnStack(FpProcess.StartInfo([.. args, "--data-dir", data.FullName]));
        psi.Environment["FP_SLACK_WEBHOOK_URL"] = "http://hooks.example.com/services/T0/B0/secret-token";

        var (exitCode, stdout, stderr) = await FpProcess.RunAsync(psi);
        data.Delete(recursive: true);

        Assert.True(exitCode == 2, $"exit {exitCode}: {stdout}{stderr}");
        Assert.Equal(
            $"fp {args[0]}: could not start the local stack: FP_SLACK_WEBHOOK_URL must be an https URL (plain http is allowed for loopback receivers only)",
            stderr.TrimEnd('\n'));
        Assert.DoesNotContain("   at ", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("startup task", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token", stdout + stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_StoppedBySigtermWhileInitdbRuns_ExitsInterrupted_AndLeavesNothingRunning()
    {
        var data = Directory.CreateTempSubdirectory("fp-run-term-");
        using var fp = Process.Start(FpProcess.WithOwnStack(FpProcess.StartInfo("run", "--data-dir", data.FullName)))!;
        var stdout = fp.StandardOutput.ReadToEndAsync();
        var stderr = fp.StandardError.ReadToEndAsync();
        try
        {
            // The window in which a stop used to orphan processes: initdb (a helper, not yet the server) and the
            // emulator's JVM still starting.
            var tree = await WaitForChildAsync(fp, "initdb", pid => ProcessName(pid) == "initdb", stdout, stderr);

            await FpProcess.TerminateAsync(fp);

            var started = tree.Concat(ProcessTrees.Of(fp.Id)).Where(pid => pid != fp.Id).Distinct().ToList();
            await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(fp.ExitCode == 130, $"fp run exited {fp.ExitCode}: {await stdout}{await stderr}");
            Assert.Contains("fp run: interrupted", await stderr, StringComparison.Ordinal);
            await ProcessTrees.WaitGoneAsync(started, TimeSpan.FromSeconds(10));
        }
        finally
        {
            await FpProcess.StopAsync(fp);

            data.Delete(recursive: true);
        }
    }

    /// <summary>
    /// A second SIGTERM by PID (what kill, systemd or a CI runner send) ends fp at once: the postmaster, initdb and the
    /// emulator's JVM it started must still go, and the cluster's directory with them.
    /// </summary>
    [Theory]
    [InlineData("initdb")]
    [InlineData("postmaster")]
    public async Task Run_SignalledTwice_ExitsAtOnce_AndStillStopsAndRemovesWhatItStarted(string runningProcess)
    {
        var data = Directory.CreateTempSubdirectory("fp-run-twice-");
        using var fp = Process.Start(FpProcess.WithOwnStack(FpProcess.StartInfo("run", "--data-dir", data.FullName)))!;
        var stdout = fp.StandardOutput.ReadToEndAsync();
        var stderr = fp.StandardError.ReadToEndAsync();
        try
        {
            // The postmaster is the postgres started with the cluster's socket directory (-k); initdb's postgres is not.
            var tree = await WaitForChildAsync(
                fp, runningProcess, pid => runningProcess == "initdb" ? ProcessName(pid) == "initdb" : CommandLine(pid).Contains(" -k /", StringComparison.Ordinal), stdout, stderr);

            // Read while it runs: a process of the tree may have exited (and its /proc entry gone) since it was listed.
            var cluster = await Eventually.WaitAsync(
                () => Task.FromResult(ProcessTrees.Of(fp.Id).Select(CommandLine).Select(c => ClusterDirectory().Match(c)).FirstOrDefault(m => m.Success)?.Value),
                TimeSpan.FromSeconds(10),
                "the cluster directory on a command line under fp run");
            await FpProcess.TerminateAsync(fp);
            await Task.Delay(100);
            await FpProcess.TerminateAsync(fp);

            var started = tree.Concat(ProcessTrees.Of(fp.Id)).Where(pid => pid != fp.Id).Distinct().ToList();
            await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(fp.ExitCode == 130, $"fp run exited {fp.ExitCode}: {await stdout}{await stderr}");
            await ProcessTrees.WaitGoneAsync(started, TimeSpan.FromSeconds(10));
            Assert.False(Directory.Exists(cluster), $"{cluster} left behind");
        }
        finally
        {
            await FpProcess.StopAsync(fp);

            data.Delete(recursive: true);
        }
    }

    /// <summary>
    /// What fp run is given instead of starting its own PostgreSQL or emulator is checked before anything starts: a
    /// malformed value is one line naming its variable (exit 2), and an emulator that accepts connections but never
    /// answers is reported in seconds (exit 1), not after six one-minute attempts and a stack trace.
    /// </summary>
    [Theory]
    [InlineData("FP_POSTGRES_CONNECTION", "Host=127.0.0.1;Prot=5432", 2, "fp run: could not start the local stack: FP_POSTGRES_CONNECTION is not a valid Npgsql connection string (part 2 of 2: its keyword is not one Npgsql knows)")]
    [InlineData("PUBSUB_EMULATOR_HOST", "http://127.0.0.1:8085", 2, "fp run: could not start the local stack: PUBSUB_EMULATOR_HOST='http://127.0.0.1:8085' must be host:port")]
    [InlineData("FP_TOPIC_PREFIX", "9-start-with-a-digit", 2, "fp run: could not start the local stack: FP_TOPIC_PREFIX='9-start-with-a-digit' must be a letter, then")]
    [InlineData("FP_STALE_AFTER_SECONDS", "abc", 2, "fp run: could not start the local stack: FP_STALE_AFTER_SECONDS='abc' must be a positive number")]
    [InlineData("FP_HEARTBEAT_SECONDS", "60", 2, "fp run: could not start the local stack: FP_STALE_AFTER_SECONDS=30 must be at least twice FP_HEARTBEAT_SECONDS=60")]
    [InlineData("FP_PROJECT_ID", "X", 2, "fp run: could not start the local stack: FP_PROJECT_ID='X' must be a project id")]
    [InlineData("FP_WAREHOUSE", "oracle", 2, "fp run: could not start the local stack: FP_WAREHOUSE='oracle' must be one of duckdb, bigquery")]
    [InlineData("PUBSUB_EMULATOR_HOST", "silent", 1, "fp run: could not start the local stack: Pub/Sub: the emulator at PUBSUB_EMULATOR_HOST=127.0.0.1:")]
    public async Task Run_GivenAMalformedOrSilentService_SaysWhichInOneLine_BeforeStartingAnything(string variable, string value, int exitCode, string expected)
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start(); // accepts connections (the kernel's backlog) and never answers
        if (value == "silent")
        {
            value = $"127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}";
        }

        var data = Directory.CreateTempSubdirectory("fp-run-given-");
        try
        {
            var psi = FpProcess.WithOwnStack(FpProcess.StartInfo("run", "--data-dir", data.FullName));
            psi.Environment[variable] = value;
            using var fp = Process.Start(psi)!;
            var stdout = fp.StandardOutput.ReadToEndAsync();
            var stderr = fp.StandardError.ReadToEndAsync();
            try
            {
                // A hang guard only: how fast a refusal comes is not this test's business.
                await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                await FpProcess.StopAsync(fp); // SIGTERM first: had it started a stack, it removes it
                throw;
            }

            var lines = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(fp.ExitCode == exitCode, $"exit {fp.ExitCode}: {await stdout}{await stderr}");
            Assert.StartsWith(expected, Assert.Single(lines), StringComparison.Ordinal);
            Assert.DoesNotContain("fp-pg-", await stdout + await stderr, StringComparison.Ordinal); // no cluster was started
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    /// <summary>fp's process tree once a process in it matches <paramref name="match"/>; fails if fp exits first or after 60 s.</summary>
    private static async Task<IReadOnlyList<int>> WaitForChildAsync(Process fp, string what, Func<int, bool> match, Task<string> stdout, Task<string> stderr)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<int> tree;
        while (!(tree = ProcessTrees.Of(fp.Id)).Any(match))
        {
            if (fp.HasExited || clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                Assert.Fail($"{what} never seen under fp run: {await stdout}{await stderr}");
            }

            await Task.Delay(10);
        }

        return tree;
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    [GeneratedRegex("/[^ ]*/fp-pg-[0-9a-f]{32}")]
    private static partial Regex ClusterDirectory();

    [Fact]
    public async Task Run_OfAJobExtractWouldReject_SaysWhyAtOnce_InsteadOfWaitingForTheTimeout()
    {
        var data = Directory.CreateTempSubdirectory("fp-run-nojob-");
        try
        {
            // With a 600 s timeout, a run that waited for gold would outlast RunAsync's 60 s and fail this test.
            var run = await FpProcess.RunAsync(FpProcess.WithOwnStack(FpProcess.StartInfo("run", "--job", "no_such_job", "--timeout", "600", "--data-dir", data.FullName)));

            Assert.Equal(2, run.ExitCode);
            Assert.Contains("fp run: --job 'no_such_job' is not in ingestion_job_config", run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("published start message", run.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    /// <summary>The process's name (<c>comm</c>), or empty once it is gone.</summary>
    private static string ProcessName(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.ProcessName;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return string.Empty;
        }
    }

    /// <summary>
    /// Reads fp up's stdout to the end, as a terminal would (a reader that stops leaves fp blocked on a full pipe),
    /// and returns once it printed its ready line, with the <c>export</c> lines it printed before.
    /// </summary>
    internal static async Task<(System.Collections.Concurrent.ConcurrentQueue<string> Output, Task Reader, Dictionary<string, string> Exports)> ReadUntilReadyAsync(Process fp)
    {
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Run(async () =>
        {
            while (await fp.StandardOutput.ReadLineAsync() is { } line)
            {
                output.Enqueue(line);
                if (line == ReadyLine)
                {
                    ready.TrySetResult();
                }
            }

            ready.TrySetException(new InvalidOperationException("fp up closed its output before it was ready"));
        });
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(90));
        var exports = output.Select(l => ExportLine().Match(l)).Where(m => m.Success).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["value"].Value);
        return (output, reader, exports);
    }

    /// <summary>
    /// FP_YAHOO_BASE_URL reaches the function hosts fp up runs, as it reaches a deployed host: a yahoo job run locally
    /// fetches from the mirror it names (here a local Yahoo server), not from the internet.
    /// </summary>
    [Fact]
    public async Task Up_PassesFpYahooBaseUrlToTheExtractHost()
    {
        await using var yahoo = await LocalYahooServer.StartAsync();
        var data = Directory.CreateTempSubdirectory("fp-up-yahoo-");
        var psi = FpProcess.WithOwnStack(FpProcess.StartInfo("up", "--data-dir", data.FullName, "--for", "300"));
        psi.Environment["FP_YAHOO_BASE_URL"] = yahoo.BaseUrl.AbsoluteUri;
        using var fp = Process.Start(psi)!;
        _ = fp.StandardError.ReadToEndAsync();
        try
        {
            var (_, _, exports) = await ReadUntilReadyAsync(fp);
            var set = await FpProcess.RunAsync(exports, "jobs", "set", "--name", "yahoo_mirror", "--tickers", "AAPL", "--provider", "yahoo", "--bucket", "fp-bronze", "--silver-bucket", "fp-silver");
            Assert.True(set.ExitCode == 0, set.Stderr);
            var from = DateOnly.FromDateTime(TimeProvider.System.GetUtcNow().UtcDateTime).AddDays(-7);
            var published = await FpProcess.RunAsync(exports, "backfill", "--job", "yahoo_mirror", "--from", ObjectLayout.DateKey(from), "--to", ObjectLayout.DateKey(from.AddDays(1)), "--window-timeout", "60");
            Assert.True(published.ExitCode == 0, published.Stdout + published.Stderr);
            Assert.True(yahoo.Answered200 > 0, "the Extract host never asked the local Yahoo server");
        }
        finally
        {
            await FpProcess.StopAsync(fp);
            data.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The function hosts' variables that make sense locally are used by fp up's stack and in its export lines; those
    /// it overrides are named in a note. fp up exported its own FP_PROJECT_ID and FP_STALE_AFTER_SECONDS, whatever was set.
    /// </summary>
    [Fact]
    public async Task Up_UsesAndExportsTheGivenProjectAndZombieThreshold_AndNotesTheVariablesItOverrides()
    {
        var data = Directory.CreateTempSubdirectory("fp-up-env-");
        var psi = FpProcess.WithOwnStack(FpProcess.StartInfo("up", "--data-dir", data.FullName, "--for", "300"));
        psi.Environment["FP_PROJECT_ID"] = "my-project-1";
        psi.Environment["FP_STALE_AFTER_SECONDS"] = "600";
        psi.Environment["FP_WAREHOUSE"] = "bigquery";
        using var fp = Process.Start(psi)!;
        _ = fp.StandardError.ReadToEndAsync();
        try
        {
            var (output, _, exports) = await ReadUntilReadyAsync(fp);

            Assert.True(exports.GetValueOrDefault("FP_PROJECT_ID") == "my-project-1", string.Join('\n', output));
            Assert.Equal("600", exports["FP_STALE_AFTER_SECONDS"]);
            // Its redeliveries are lengthened to outlast that threshold, so a crashed worker is still taken over.
            Assert.Contains("note: FP_STALE_AFTER_SECONDS=600: the local subscriptions redeliver after 41, 82, 164, 328 s, so a crashed worker's message outlasts the threshold and is taken over", output);
            Assert.Contains(output, l => l.StartsWith("note: FP_WAREHOUSE ignored by fp run and fp up", StringComparison.Ordinal));
            // The topology is in that project: a start message published there is taken.
            var publish = await FpProcess.RunAsync(exports, "publish", "--job", "financial_extract");
            Assert.True(publish.ExitCode == 0, publish.Stdout + publish.Stderr);
        }
        finally
        {
            await FpProcess.StopAsync(fp);
            data.Delete(recursive: true);
        }
    }

    private const string ReadyLine = "fp up: ready (Ctrl+C or SIGTERM stops everything)";

    [GeneratedRegex("^export (?<name>[A-Z_]+)='(?<value>[^']*)'$")]
    private static partial Regex ExportLine();

    [GeneratedRegex("started processes (?<pids>[0-9]+(, [0-9]+)*)")]
    private static partial Regex StartedLine();
}
