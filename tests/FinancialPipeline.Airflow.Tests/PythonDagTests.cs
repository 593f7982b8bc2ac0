using System.Diagnostics;
using System.Text.RegularExpressions;

namespace FinancialPipeline.Airflow.Tests;

/// <summary>
/// The Airflow DAG and its message builder are tested in Python (standard library only; Airflow cannot be
/// installed here). This runs that suite as part of the .NET test run and fails with Python's output.
/// </summary>
public sealed partial class PythonDagTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task AirflowUnittestSuitePasses()
    {
        var root = RepositoryRoot();
        var result = await RunAsync(root, "python3", "-m", "unittest", "discover", "-s", "airflow/tests", "-t", "airflow", "-v");
        var output = $"python3 exit code {result.ExitCode}\n--- stdout ---\n{result.StdOut}\n--- stderr ---\n{result.StdErr}";

        Assert.True(result.ExitCode == 0, output);
        var ran = RanLine().Match(result.StdErr);
        Assert.True(ran.Success, "no 'Ran N tests' line\n" + output);
        var count = int.Parse(ran.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(count > 0, "python ran no tests\n" + output);
        // Every test method written must have run: a module that failed to import or was not discovered shows here.
        var written = Directory.GetFiles(Path.Combine(root, "airflow", "tests"), "test_*.py")
            .Sum(file => TestMethod().Matches(File.ReadAllText(file)).Count);
        Assert.True(count == written, $"ran {count} tests, the files define {written}\n" + output);
        Assert.Matches(OkLine(), result.StdErr);
        Assert.DoesNotMatch(FailureMarker(), result.StdErr);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FinancialPipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"FinancialPipeline.sln not found above {AppContext.BaseDirectory}");
    }

    private static async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(string workingDirectory, string fileName, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // No stray bytecode caches in the repository.
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {Timeout}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    [GeneratedRegex(@"^Ran (?<n>\d+) tests? in ", RegexOptions.Multiline)]
    private static partial Regex RanLine();

    [GeneratedRegex(@"^\s+def test_\w+\(self", RegexOptions.Multiline)]
    private static partial Regex TestMethod();

    [GeneratedRegex(@"^OK( \(.*\))?$", RegexOptions.Multiline)]
    private static partial Regex OkLine();

    [GeneratedRegex(@"^(FAIL|ERROR):", RegexOptions.Multiline)]
    private static partial Regex FailureMarker();
}
