using System.Diagnostics;
using FinancialPipeline.PubSub;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FinancialPipeline.DevServices;

/// <summary>
/// gcloud's Pub/Sub emulator on a free loopback port. We start the component's launcher script directly — it
/// <c>exec</c>s java, so the PID we hold is the JVM (stopping the <c>gcloud beta emulators</c> wrapper instead
/// would orphan it). The launcher runs under setsid(1), in a process group of its own: stopped while the script is
/// still running (a cancelled start), a subshell it forked in that instant is outside the tree walked from our PID but
/// inside the group. Dispose kills the group and the tree, and waits until neither has a live process.
/// </summary>
public sealed class PubSubEmulator : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ILogger _logger;
    private int _disposed;

    private PubSubEmulator(Process process, int port, ILogger logger)
    {
        _process = process;
        Port = port;
        _logger = logger;
    }

    public int Port { get; }

    /// <summary>The PUBSUB_EMULATOR_HOST value: host:port, no scheme.</summary>
    public string Host => $"127.0.0.1:{Port}";

    public int ProcessId => _process.Id;

    public static async Task<PubSubEmulator> StartAsync(ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        logger ??= NullLogger.Instance;
        var launcher = FindLauncher();
        for (var attempt = 1; ; attempt++)
        {
            var port = LoopbackPorts.Free();
            var output = new OutputTail(logger, "pubsub-emulator");
            // setsid(1) calls setsid() and execs the launcher in place (our child is not a group leader, so it does not
            // fork): the PID is the launcher's, then the JVM's, and it is also the process group's id.
            var psi = new ProcessStartInfo(Setsid ?? launcher)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            if (Setsid is not null)
            {
                psi.ArgumentList.Add(launcher);
            }

            psi.ArgumentList.Add("--host=127.0.0.1");
            psi.ArgumentList.Add($"--port={port}");
            psi.Environment["JAVA_OPTS"] = "-Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1";
            var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {launcher}");
            output.Attach(process);
            var emulator = new PubSubEmulator(process, port, logger);
            AppDomain.CurrentDomain.ProcessExit += emulator.OnProcessExit;
            bool ready;
            try
            {
                ready = await emulator.WaitReadyAsync(cancellationToken);
            }
            catch
            {
                // Cancelled while starting (Ctrl+C during fp run): the caller never gets this process, so stop it here.
                await emulator.DisposeAsync();
                throw;
            }

            if (ready)
            {
                logger.LogInformation("Pub/Sub emulator ready on {Host} (pid {Pid})", emulator.Host, process.Id);
                return emulator;
            }

            var tail = output.ToString();
            await emulator.DisposeAsync();
            if (attempt >= 3)
            {
                throw new InvalidOperationException($"Pub/Sub emulator did not become ready: {tail}");
            }
        }
    }

    /// <summary>PIDs of the process, all its descendants and everything else in its process group, read from /proc.</summary>
    public IReadOnlyList<int> ProcessTree() => ProcessTrees.Of(_process.Id).Union(OwnGroup()).ToList();

    /// <summary>setsid(1) from util-linux, when installed (Debian's base system has it).</summary>
    private static string? Setsid { get; } = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        var tree = ProcessTree();
        KillAll();

        await _process.WaitForExitAsync(CancellationToken.None);
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        _process.Dispose();
        await ProcessTrees.WaitGoneAsync(tree, TimeSpan.FromSeconds(10));
    }

    /// <summary>The members of the process group the launcher leads (none when it was started without setsid).</summary>
    private IReadOnlyList<int> OwnGroup() => Setsid is null || _process.HasExited ? [] : ProcessTrees.InGroup(_process.Id);

    private void KillAll()
    {
        if (Setsid is not null)
        {
            ProcessTrees.KillGroupLedBy(_process);
        }

        ProcessTrees.Kill(_process);
    }

    /// <summary>
    /// One topic listing from a given emulator (PUBSUB_EMULATOR_HOST), with a short timeout: one that refuses, stays
    /// silent or is not Pub/Sub is reported at once.
    /// </summary>
    /// <exception cref="PubSubException">It does not answer as the emulator does, naming the variable.</exception>
    public static async Task ProbeAsync(string host, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{host}/"), Timeout = TimeSpan.FromSeconds(5) };
        if (await ProblemAsync(http, ct) is { } problem)
        {
            throw new PubSubException($"the emulator at PUBSUB_EMULATOR_HOST={host}: {problem}");
        }
    }

    private async Task<bool> WaitReadyAsync(CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{Host}/"), Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited)
            {
                return false;
            }

            if (await ProblemAsync(http, ct) is null)
            {
                return true;
            }

            await Task.Delay(150, ct);
        }

        return false;
    }

    /// <summary>One topic listing through <paramref name="http"/>: null when the emulator answers it, otherwise why not.</summary>
    private static async Task<string?> ProblemAsync(HttpClient http, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync("v1/projects/readiness-probe/topics", ct);
            return response.IsSuccessStatusCode ? null : $"answered a topic listing with HTTP {(int)response.StatusCode} (is it the Pub/Sub emulator?)";
        }
        catch (HttpRequestException ex)
        {
            return ex.Message;
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"no answer within {http.Timeout.TotalSeconds:F0} s";
        }
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        KillAll();
    }

    private static string FindLauncher()
    {
        var roots = new List<string?> { Environment.GetEnvironmentVariable("CLOUDSDK_ROOT_DIR") };
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            var gcloud = Path.Combine(dir, "gcloud");
            if (File.Exists(gcloud))
            {
                var resolved = new FileInfo(gcloud).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? gcloud;
                roots.Add(Path.GetDirectoryName(Path.GetDirectoryName(resolved)));
            }
        }

        roots.Add("/usr/lib/google-cloud-sdk");
        foreach (var root in roots.Where(r => !string.IsNullOrEmpty(r)))
        {
            var launcher = Path.Combine(root!, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator");
            if (File.Exists(launcher))
            {
                return launcher;
            }
        }

        throw new InvalidOperationException("gcloud's Pub/Sub emulator was not found: install google-cloud-cli-pubsub-emulator, set CLOUDSDK_ROOT_DIR to the Cloud SDK root, or set PUBSUB_EMULATOR_HOST to use a running emulator.");
    }
}
