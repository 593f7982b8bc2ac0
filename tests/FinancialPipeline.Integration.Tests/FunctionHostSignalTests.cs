using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.DevServices;

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
        var dataDir = Path.Combine(Path.GetTempPath(), "fp-host-signal-" + Guid.NewGuid().ToString("N"));
        var port = FreePort();
        var psi = FpProcess.DotnetStartInfo("FinancialPipeline.Functions.Extract.dll");
        psi.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
        psi.Environment["FP_POSTGRES_CONNECTION"] = stack.Infrastructure.PostgresConnection;
        psi.Environment["PUBSUB_EMULATOR_HOST"] = stack.Infrastructure.EmulatorHost;
        psi.Environment["FP_DATA_DIR"] = dataDir;
        psi.Environment["K_SERVICE"] = "fp-extract";
        using var host = Process.Start(psi)!;
        var stdout = host.StandardOutput.ReadToEndAsync();
        var stderr = host.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await Eventually.WaitAsync(async () =>
            {
                try
                {
                    using var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
                    return health.StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false; // not listening yet
                }
            }, TimeSpan.FromSeconds(60), "the Extract host's health check");

            var start = new StartMessage(Guid.NewGuid(), StackFixture.UniqueName("no_such_job_"), null, null);
            var push = $$"""{"message":{"data":"{{Convert.ToBase64String(start.ToUtf8Json())}}","messageId":"sig-1"},"subscription":"projects/p/subscriptions/s"}""";
            using var answer = await http.PostAsync(new Uri("/", UriKind.Relative), new StringContent(push, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode); // an unknown job: rejected and recorded

            await FpProcess.TerminateAsync(host);
            await host.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            var output = await stdout + await stderr;
            Assert.True(host.ExitCode == 0, $"exit {host.ExitCode}: {output}");
            Assert.Contains("rejected message sig-1", output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        }
        finally
        {
            ProcessTrees.Kill(host);
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
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
