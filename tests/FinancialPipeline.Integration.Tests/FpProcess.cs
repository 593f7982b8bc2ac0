using System.Diagnostics;

namespace FinancialPipeline.Integration.Tests;

/// <summary><c>fp</c> as an operator runs it: <c>dotnet fp.dll …</c> in a child process (fp.dll lands next to the tests).</summary>
internal static class FpProcess
{
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fp.dll"));
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
}
