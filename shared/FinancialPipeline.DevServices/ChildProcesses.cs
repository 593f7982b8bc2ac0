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
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ppid = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
                if (!children.TryGetValue(ppid, out var list))
                {
                    children[ppid] = list = [];
                }

                list.Add(pid);
            }
            catch (IOException)
            {
            }
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
