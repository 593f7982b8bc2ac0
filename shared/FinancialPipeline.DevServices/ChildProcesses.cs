using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.DevServices;

/// <summary>Free TCP ports on the loopback interface (dev services, function hosts in tests, benchmarks).</summary>
public static class LoopbackPorts
{
    /// <summary>A port free at the time of the call; a caller that loses the race to bind it retries.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// The last lines a child process wrote on stdout and stderr, kept for the error message when it fails to start or
/// exits non-zero; every line also goes to the debug log under <c>source</c>.
/// </summary>
internal sealed class OutputTail(ILogger logger, string source, int capacity = 20)
{
    private readonly Queue<string> _lines = new();

    /// <summary>Reads both streams of <paramref name="process"/> (started with them redirected) from now on.</summary>
    public void Attach(Process process)
    {
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public override string ToString()
    {
        lock (_lines)
        {
            return string.Join(" | ", _lines);
        }
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Enqueue(line);
            while (_lines.Count > capacity)
            {
                _lines.Dequeue();
            }
        }

        logger.LogDebug("{Source}: {Line}", source, line);
    }
}

/// <summary>Process-tree helpers over /proc (Linux), used to prove nothing we started is left running.</summary>
public static class ProcessTrees
{
    public static IReadOnlyList<int> Of(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var (pid, fields) in Stats())
        {
            var ppid = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
            if (!children.TryGetValue(ppid, out var list))
            {
                children[ppid] = list = [];
            }

            list.Add(pid);
        }

        var result = new List<int> { root };
        for (var i = 0; i < result.Count; i++)
        {
            if (children.TryGetValue(result[i], out var kids))
            {
                result.AddRange(kids);
            }
        }

        return result;
    }

    /// <summary>
    /// PIDs of the live processes in process group <paramref name="group"/>, read from /proc: a child started through
    /// setsid(1) leads its own group, and everything it forks stays in it even after its parent has died and it has been
    /// reparented, which a walk down the parent links misses.
    /// </summary>
    public static IReadOnlyList<int> InGroup(int group) =>
        Stats().Where(p => p.Fields[0] != "Z" && int.Parse(p.Fields[2], System.Globalization.CultureInfo.InvariantCulture) == group).Select(p => p.Pid).ToList();

    /// <summary>
    /// Kills the process group <paramref name="leader"/> leads, while it is still ours: once it has exited and been
    /// reaped (or its <see cref="Process"/> disposed), its PID, which is the group's id, may belong to someone else.
    /// </summary>
    public static void KillGroupLedBy(Process leader)
    {
        try
        {
            if (!leader.HasExited)
            {
                KillGroup(leader.Id);
            }
        }
        catch (InvalidOperationException)
        {
            // disposed by a concurrent stop
        }
    }

    /// <summary>Sends SIGKILL to every process in process group <paramref name="group"/> (kill(1) with a negative PID).</summary>
    private static void KillGroup(int group)
    {
        try
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-KILL", "--", (-group).ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false, RedirectStandardError = true });
            _ = kill!.StandardError.ReadToEnd(); // "No such process" once the group is empty
            kill.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // no kill(1): the caller's tree kill still runs
        }
    }

    /// <summary>Kills <paramref name="process"/> and its descendants, unless it has already exited.</summary>
    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // exited in between
        }
    }

    /// <summary>
    /// Asks <paramref name="process"/> to stop (SIGTERM, through kill(1)) and waits up to <paramref name="grace"/>;
    /// kills it and its descendants if it is still running then.
    /// </summary>
    public static async Task TerminateAsync(Process process, TimeSpan grace)
    {
        try
        {
            if (!process.HasExited)
            {
                // kill(1)'s "No such process", when the child ended after the check above, is not the operator's business.
                using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false, RedirectStandardError = true });
                _ = await kill!.StandardError.ReadToEndAsync();
                await kill.WaitForExitAsync(CancellationToken.None);
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(grace);
            }
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }

        Kill(process);
        await process.WaitForExitAsync(CancellationToken.None);
    }

    /// <summary>Every process's PID and the fields of its /proc stat line after the command name (state, ppid, pgrp, …).</summary>
    private static IEnumerable<(int Pid, string[] Fields)> Stats()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue; // exited while we looked
            }

            yield return (pid, stat[(stat.LastIndexOf(')') + 2)..].Split(' '));
        }
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static async Task WaitGoneAsync(IReadOnlyList<int> pids, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (pids.Any(IsAlive))
        {
            if (clock.Elapsed > timeout)
            {
                throw new InvalidOperationException($"processes still alive after stop: {string.Join(", ", pids.Where(IsAlive))}");
            }

            await Task.Delay(50);
        }
    }
}
