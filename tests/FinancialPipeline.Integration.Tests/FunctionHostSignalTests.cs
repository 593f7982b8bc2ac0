using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.ControlDb;
using FinancialPipeline.DevServices;
using FinancialPipeline.Stages.Runner;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// The Extract host as Cloud Run runs it (a child process on the real control database): ready, answering an event,
/// and stopping cleanly on SIGTERM, exit 0, as the platform expects of an instance it scales in.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class FunctionHostSignalTests(StackFixture stack)
{
    [Fact]
    public async Task AReadyHost_AnswersAnEvent_AndStopsOnSigterm_WithExitZero()
    {
        await using var host = await ExtractHost.StartAsync(stack, yahoo: null);

        var start = new StartMessage(Guid.NewGuid(), StackFixture.UniqueName("no_such_job_"), null, null);
        using var answer = await host.Http.PostAsync(new Uri("/", UriKind.Relative), Push(start, "sig-1"));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode); // an unknown job: rejected and recorded

        var (exitCode, output) = await host.TerminateAsync();
        Assert.True(exitCode == 0, $"exit {exitCode}: {output}");
        Assert.Contains("rejected message sig-1", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);

        // K_SERVICE is set, as on Cloud Run: every line is one JSON object Cloud Logging parses, severity included.
        var rejected = Assert.Single(output.Split('\n'), l => l.Contains("rejected message sig-1", StringComparison.Ordinal));
        using var line = System.Text.Json.JsonDocument.Parse(rejected);
        Assert.Equal("WARNING", line.RootElement.GetProperty("severity").GetString());
        Assert.Equal(start.ExecutionId.ToString("D"), line.RootElement.GetProperty("execution_id").GetString());
    }

    /// <summary>
    /// Cloud Run sends SIGKILL 10 s after SIGTERM. A stage still running when the drain ends is aborted and marks its
    /// row FAILED before that, so the redelivery runs at once elsewhere instead of meeting a RUNNING row (409s until it
    /// is stale, then a zombie alert). Was: the drain waited 30 s, and the kill left the row RUNNING. How long this
    /// process takes to go away on a loaded machine is not asserted (only a 30 s hang guard in TerminateAsync): the host
    /// says the drain it was configured with, which must end before the kill, and the row and exit code show what the
    /// drain's end did. FunctionAppTests checks the default drain and that the abort happens when it ends.
    /// </summary>
    [Fact]
    public async Task Sigterm_WithAStageInFlight_AbortsItWhenTheDrainEnds_MarksItFailed_AndExitsZero()
    {
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions { Latency = TimeSpan.FromMinutes(5) });
        var job = await stack.CreateJobAsync("AAPL", provider: "yahoo");
        await using var host = await ExtractHost.StartAsync(stack, yahoo.BaseUrl);
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions());
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        var push = host.Http.PostAsync(new Uri("/", UriKind.Relative), Push(start, "sig-2"));
        await Eventually.WaitAsync(
            async () => (await ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None))?.Status == "RUNNING",
            TimeSpan.FromSeconds(60),
            "bronze RUNNING, its Yahoo request held");

        var (exitCode, output) = await host.TerminateAsync();

        Assert.True(exitCode == 0, $"exit {exitCode}: {output}");
        var drain = System.Text.RegularExpressions.Regex.Match(output, "stopping: requests in flight have ([0-9]+) s to finish");
        Assert.True(drain.Success, output);
        Assert.InRange(int.Parse(drain.Groups[1].Value, CultureInfo.InvariantCulture), 1, 9); // ends before Cloud Run's SIGKILL
        var row = await ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("FAILED", StageRunner.AbortedError), (row!.Status, row.Error));
        Assert.Contains("request for message sig-2 was aborted: the host is shutting down", output, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<Exception>(() => push); // the connection was aborted
    }

    private static StringContent Push(StartMessage start, string messageId) => new(
        $$"""{"message":{"data":"{{Convert.ToBase64String(start.ToUtf8Json())}}","messageId":"{{messageId}}"},"subscription":"projects/p/subscriptions/s"}""",
        Encoding.UTF8,
        "application/json");

    /// <summary>The Extract binary as a child process on the fixture's control database, ready (health check 200).</summary>
    private sealed class ExtractHost : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _dataDir;
        private readonly Task<string> _stdout;
        private readonly Task<string> _stderr;

        private ExtractHost(Process process, string dataDir, HttpClient http)
        {
            _process = process;
            _dataDir = dataDir;
            Http = http;
            _stdout = process.StandardOutput.ReadToEndAsync();
            _stderr = process.StandardError.ReadToEndAsync();
        }

        public HttpClient Http { get; }

        public static async Task<ExtractHost> StartAsync(StackFixture stack, Uri? yahoo)
        {
            var dataDir = Path.Combine(Path.GetTempPath(), "fp-host-signal-" + Guid.NewGuid().ToString("N"));
            var port = FreePort();
            var psi = FpProcess.DotnetStartInfo("FinancialPipeline.Functions.Extract.dll");
            psi.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
            psi.Environment["FP_POSTGRES_CONNECTION"] = stack.Infrastructure.PostgresConnection;
            psi.Environment["PUBSUB_EMULATOR_HOST"] = stack.Infrastructure.EmulatorHost;
            psi.Environment["FP_DATA_DIR"] = dataDir;
            psi.Environment["K_SERVICE"] = "fp-extract";
            if (yahoo is not null)
            {
                psi.Environment["FP_YAHOO_BASE_URL"] = yahoo.ToString();
            }

            var host = new ExtractHost(Process.Start(psi)!, dataDir, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = Timeout.InfiniteTimeSpan });
            try
            {
                await Eventually.WaitAsync(
                    async () =>
                    {
                        try
                        {
                            using var health = await host.Http.GetAsync(new Uri("/healthz", UriKind.Relative));
                            return health.StatusCode == HttpStatusCode.OK;
                        }
                        catch (HttpRequestException)
                        {
                            return false; // not listening yet
                        }
                    },
                    TimeSpan.FromSeconds(60),
                    "the Extract host's health check");
                return host;
            }
            catch
            {
                await host.DisposeAsync();
                throw;
            }
        }

        /// <summary>SIGTERM, as Cloud Run scales an instance in; the exit code and everything it wrote.</summary>
        public async Task<(int ExitCode, string Output)> TerminateAsync()
        {
            await FpProcess.TerminateAsync(_process);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return (_process.ExitCode, await _stdout + await _stderr);
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            ProcessTrees.Kill(_process);
            await _process.WaitForExitAsync();
            _process.Dispose();
            if (Directory.Exists(_dataDir))
            {
                Directory.Delete(_dataDir, recursive: true);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
