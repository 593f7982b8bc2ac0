using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace FinancialPipeline.DevServices;

/// <summary>
/// A throwaway PostgreSQL cluster from Debian's binaries: initdb into a temporary directory, postmaster on a
/// free loopback port, removed again on dispose. As root the server runs as the <c>postgres</c> user
/// (initdb refuses root) through <c>setpriv</c>, which execs, so the PID we hold is the postmaster itself.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    public const string DatabaseName = "financial_pipeline";

    private readonly ILogger _logger;
    private readonly string _binDir;
    private readonly string _root;
    private readonly OutputTail _output;
    private Process? _postmaster;
    private Process? _helper;
    private int _disposed;

    private PostgresCluster(ILogger logger, string binDir, string root)
    {
        _logger = logger;
        _output = new OutputTail(logger, "postgres");
        _binDir = binDir;
        _root = root;
        // If this process exits without disposing the cluster (a second Ctrl+C or SIGTERM ends fp at once), its
        // processes and directory go with it.
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    public int Port { get; private set; }

    public int ProcessId => _postmaster?.Id ?? 0;

    public string DataDirectory => Path.Combine(_root, "data");

    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = DatabaseName,
        Pooling = true,
        MaxPoolSize = 50,
    }.ConnectionString;

    /// <summary>
    /// The same database over the server's Unix-domain socket (in the cluster's directory), as a function on Cloud Run
    /// reaches Cloud SQL (<c>Host=/cloudsql/…</c>); null when the socket's path would be too long for one
    /// (<see cref="MaxSocketPathBytes"/>, a long TMPDIR), and then only TCP is offered.
    /// </summary>
    public string? SocketConnectionString =>
        System.Text.Encoding.UTF8.GetByteCount(Path.Combine(_root, $".s.PGSQL.{Port}")) > MaxSocketPathBytes
            ? null
            : new NpgsqlConnectionStringBuilder(ConnectionString) { Host = _root }.ConnectionString;

    /// <summary>sun_path holds 108 bytes on Linux, the terminating NUL included.</summary>
    internal const int MaxSocketPathBytes = 107;

    public static async Task<PostgresCluster> StartAsync(ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        logger ??= NullLogger.Instance;
        var binDir = FindBinDir(Environment.GetEnvironmentVariable("PG_BINDIR"));
        var root = Path.Combine(Path.GetTempPath(), $"fp-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        var cluster = new PostgresCluster(logger, binDir, root);
        try
        {
            await cluster.InitAsync(cancellationToken);
            await cluster.StartServerAsync(cancellationToken);
            await cluster.CreateDatabaseAsync(cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // The exit handler stays until the end: a second signal during this stop exits fp at once, and it then finishes it.
        if (_postmaster is { HasExited: false } pm)
        {
            if (!await StopFastAsync(pm))
            {
                ProcessTrees.Kill(pm);
            }

            await pm.WaitForExitAsync(CancellationToken.None);
        }
        else if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            // Restarted under us (pg_ctl restart or start on this throwaway data directory, e.g. by hand to try an
            // outage): that server is not our child, but it runs on the directory removed below. pg_ctl stops it by
            // its pid file, and refuses a stale one (a postmaster killed earlier), so no reused pid is signalled.
            try
            {
                await RunAsync(Path.Combine(_binDir, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "15"], CancellationToken.None);
                _logger.LogInformation("stopped the PostgreSQL server restarted on {Data}", DataDirectory);
            }
            catch (InvalidOperationException ex)
            {
                _logger.LogInformation("no PostgreSQL server left on {Data} to stop ({Error})", DataDirectory, ex.Message);
            }
        }

        _postmaster?.Dispose();
        NpgsqlConnection.ClearAllPools();
        RemoveRoot();
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
    }

    /// <summary>
    /// Fast shutdown through pg_ctl (SIGINT to the postmaster). False when it did not stop within 15 s, or when pg_ctl
    /// could not reach it: it has no pid file yet while starting (e.g. Ctrl+C during fp run), and nothing else would
    /// then stop it, so the caller kills it at once rather than after the wait.
    /// </summary>
    private async Task<bool> StopFastAsync(Process postmaster)
    {
        try
        {
            await RunAsync(Path.Combine(_binDir, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "15"], CancellationToken.None);
        }
        catch (InvalidOperationException ex)
        {
            _logger.LogInformation(ex, "pg_ctl stop failed; killing postmaster {Pid}", postmaster.Id);
            return false;
        }

        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await postmaster.WaitForExitAsync(wait.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// <paramref name="configured"/> (PG_BINDIR) when set, and then it must hold initdb: a wrong setting is an error,
    /// not a silent fallback to another server version. Otherwise Debian's 15, else the newest installed.
    /// </summary>
    internal static string FindBinDir(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(Path.Combine(configured, "initdb"))
                ? configured
                : throw new InvalidOperationException($"PG_BINDIR is '{configured}', which holds no initdb: point it at the folder holding initdb and postgres (Debian: /usr/lib/postgresql/15/bin), or unset it.");
        }

        foreach (var candidate in new[] { "/usr/lib/postgresql/15/bin" }.Concat(Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin")) : []))
        {
            if (File.Exists(Path.Combine(candidate, "initdb")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("PostgreSQL server binaries not found: install Debian's postgresql (15) or set PG_BINDIR to the folder holding initdb and postgres, or set FP_POSTGRES_CONNECTION to use an existing server.");
    }

    internal static bool IsRoot() => !OperatingSystem.IsWindows() && Environment.IsPrivilegedProcess;

    private async Task InitAsync(CancellationToken ct)
    {
        if (IsRoot())
        {
            // The server runs as postgres (AsServerOwner): it must own the directory it writes its data and socket in.
            await RunPlainAsync("chown", ["postgres:postgres", _root], ct);
        }

        await RunAsync(Path.Combine(_binDir, "initdb"), ["-D", DataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], ct);
    }

    private async Task StartServerAsync(CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            Port = LoopbackPorts.Free();
            string[] args =
            [
                "-D", DataDirectory, "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-k", _root,
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "timezone=UTC",
            ];
            _postmaster = Launch(Path.Combine(_binDir, "postgres"), args);
            if (await WaitReadyAsync(ct))
            {
                _logger.LogInformation("PostgreSQL started on 127.0.0.1:{Port} (pid {Pid}, data {Data})", Port, _postmaster.Id, DataDirectory);
                return;
            }

            ProcessTrees.Kill(_postmaster);
            await _postmaster.WaitForExitAsync(ct);
            if (attempt >= 3)
            {
                throw new InvalidOperationException($"PostgreSQL did not start: {_output}");
            }
        }
    }

    private async Task<bool> WaitReadyAsync(CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = "postgres", Pooling = false, Timeout = 2 };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_postmaster!.HasExited)
            {
                return false;
            }

            try
            {
                await using var conn = new NpgsqlConnection(builder.ConnectionString);
                await conn.OpenAsync(ct);
                return true;
            }
            catch (NpgsqlException)
            {
                await Task.Delay(100, ct);
            }
        }

        return false;
    }

    private async Task CreateDatabaseAsync(CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = "postgres", Pooling = false };
        await using var conn = new NpgsqlConnection(builder.ConnectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {DatabaseName}", conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// How to run one of the server's binaries as the cluster's owner: through <c>setpriv</c> as the <c>postgres</c>
    /// user when we are root (initdb and postgres refuse root; setpriv execs, so the PID is the binary's), directly
    /// otherwise. Output is redirected and the C locale set.
    /// </summary>
    internal static ProcessStartInfo AsServerOwner(string exe, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (IsRoot())
        {
            psi.FileName = "setpriv";
            foreach (var a in new[] { "--reuid=postgres", "--regid=postgres", "--init-groups", "--", exe })
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi.FileName = exe;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C";
        return psi;
    }

    private Process Launch(string exe, IReadOnlyList<string> args)
    {
        var process = Process.Start(AsServerOwner(exe, args)) ?? throw new InvalidOperationException($"could not start {exe}");
        _output.Attach(process);
        return process;
    }

    private async Task RunAsync(string exe, IReadOnlyList<string> args, CancellationToken ct)
    {
        using var process = Launch(exe, args);
        await WaitOrKillAsync(process, ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(exe)} exited {process.ExitCode}: {_output}");
        }
    }

    private async Task RunPlainAsync(string exe, IReadOnlyList<string> args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var err = process.StandardError.ReadToEndAsync(CancellationToken.None);
        await WaitOrKillAsync(process, ct);
        var stderr = await err;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{exe} exited {process.ExitCode}: {stderr}");
        }
    }

    /// <summary>
    /// Waits for a helper (initdb, chown, pg_ctl); when <paramref name="ct"/> fires (Ctrl+C while the cluster starts) the
    /// helper is killed before the cancellation propagates, so it is not left running, or writing into the directory
    /// the dispose is about to delete.
    /// </summary>
    /// <remarks>
    /// The helper is asked to stop (SIGTERM) before it is killed: initdb traps the signal and its single-user postgres
    /// then exits cleanly, where a killed postgres leaves its shared-memory segments in /dev/shm until reboot.
    /// </remarks>
    private async Task WaitOrKillAsync(Process process, CancellationToken ct)
    {
        _helper = process; // and if this process exits meanwhile, OnProcessExit stops it
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            await ProcessTrees.TerminateAsync(process, TimeSpan.FromSeconds(5));
            throw;
        }
        finally
        {
            _helper = null;
        }
    }

    /// <summary>
    /// Removes the cluster's directory. One already gone is what was wanted: the exit handler of a second signal
    /// (<see cref="OnProcessExit"/>) removes it too, racing this stop, so part of the tree can vanish mid-delete (look
    /// again). Any other failure is one line; its stack trace only at Debug.
    /// </summary>
    private void RemoveRoot()
    {
        for (var attempt = 1; Directory.Exists(_root); attempt++)
        {
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (DirectoryNotFoundException) when (attempt < 3)
            {
                // removed meanwhile, in part or whole
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.LogWarning("could not remove {Root}: {Reason}", _root, ex.Message);
                _logger.LogDebug(ex, "could not remove {Root}", _root);
                return;
            }
        }
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        foreach (var process in new[] { _helper, _postmaster })
        {
            try
            {
                if (process is not null)
                {
                    ProcessTrees.Kill(process);
                    process.WaitForExit(TimeSpan.FromSeconds(5));
                }
            }
            catch (InvalidOperationException)
            {
                // disposed by the orderly stop running beside this handler: that stop has it
            }
        }

        // Best effort, a few times: a stopping initdb or postmaster may still be removing its own files meanwhile.
        for (var attempt = 0; attempt < 5 && Directory.Exists(_root); attempt++)
        {
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Thread.Sleep(100);
            }
        }
    }
}
