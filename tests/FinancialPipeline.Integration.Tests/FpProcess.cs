using System.Diagnostics;
using FinancialPipeline.DevServices;

namespace FinancialPipeline.Integration.Tests;

/// <summary><c>fp</c> as an operator runs it: <c>dotnet fp.dll …</c> in a child process (fp.dll lands next to the tests).</summary>
internal static class FpProcess
{
    /// <summary>A control database and a Pub/Sub emulator on loopback port 1, where nothing listens: every connection is refused at once.</summary>
    public static readonly IReadOnlyDictionary<string, string> Unreachable = new Dictionary<string, string>
    {
        ["FP_POSTGRES_CONNECTION"] = "Host=127.0.0.1;Port=1;Username=postgres;Timeout=2",
        ["PUBSUB_EMULATOR_HOST"] = "127.0.0.1:1",
    };

    public static ProcessStartInfo StartInfo(params string[] args) => DotnetStartInfo("fp.dll", args);

    /// <summary><c>dotnet</c> running <paramref name="dll"/> from the tests' output directory (fp, or a function host the CLI references).</summary>
    public static ProcessStartInfo DotnetStartInfo(string dll, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        return psi;
    }

    /// <summary>For <c>fp run</c> and <c>fp up</c>: their own PostgreSQL and emulator, whatever the test run was given.</summary>
    public static ProcessStartInfo WithOwnStack(ProcessStartInfo psi)
    {
        psi.Environment.Remove("FP_POSTGRES_CONNECTION");
        psi.Environment.Remove("PUBSUB_EMULATOR_HOST");
        return psi;
    }

    /// <summary>Sends SIGTERM to <paramref name="fp"/>, what Ctrl+C and <c>docker stop</c> send.</summary>
    public static async Task TerminateAsync(Process fp)
    {
        using var kill = Process.Start("kill", ["-TERM", fp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>
    /// Ends a test's <c>fp up</c> or <c>fp run</c> the way an operator does (SIGTERM), so it stops its PostgreSQL
    /// cluster and emulator and removes their temporary directories; killed only if it has not exited within 60 s.
    /// Killing it outright left a 40 MB cluster directory in the temp folder on every test run.
    /// </summary>
    public static async Task StopAsync(Process fp)
    {
        if (!fp.HasExited)
        {
            await TerminateAsync(fp);
            try
            {
                await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                // Falls through to the kill.
            }
        }

        ProcessTrees.Kill(fp);
    }

    /// <summary>Runs one operator command with only <paramref name="env"/> added to this process's environment.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = StartInfo(args);
        foreach (var (name, value) in env)
        {
            psi.Environment[name] = value;
        }

        return await RunAsync(psi);
    }

    /// <summary>
    /// Runs <paramref name="psi"/> to its end. After 60 s (a hang guard, not a performance bound) it is stopped as
    /// <see cref="StopAsync"/> does (SIGTERM first, so an <c>fp run</c> that started a stack removes its cluster
    /// directory) and this throws.
    /// </summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(ProcessStartInfo psi)
    {
        using var fp = Process.Start(psi)!;
        var stdout = fp.StandardOutput.ReadToEndAsync();
        var stderr = fp.StandardError.ReadToEndAsync();
        try
        {
            await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            await StopAsync(fp);
            throw;
        }

        return (fp.ExitCode, await stdout, await stderr);
    }
}
