namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// A function host started with a configuration mistake fails fast: one line naming the variable and exit 1, as
/// Cloud Run's logs show it, never an unhandled exception with a stack trace and an abort (134), and never a clean
/// exit 0 after a start that could not reach the control database. The Extract host as a child process (its dll
/// lands next to the tests through fp's reference); the other hosts share the same entry point.
/// </summary>
public sealed class FunctionHostStartTests
{
    private const string ExtractDll = "FinancialPipeline.Functions.Extract.dll";

    [Theory]
    [InlineData("FP_STALE_AFTER_SECONDS", "abc", "extract: cannot start: FP_STALE_AFTER_SECONDS='abc' must be a positive number")]
    [InlineData("FP_STALE_AFTER_SECONDS", "10", "extract: cannot start: FP_STALE_AFTER_SECONDS=10 must be at least twice FP_HEARTBEAT_SECONDS=15")]
    [InlineData("FP_WAREHOUSE", "snowflake", "extract: cannot start: FP_WAREHOUSE='snowflake' must be one of")]
    [InlineData("PORT", "0", "extract: cannot start: PORT='0' must be a port number")]
    [InlineData("FP_POSTGRES_CONNECTION", "", "extract: cannot start: FP_POSTGRES_CONNECTION is not set")]
    public async Task AMalformedOrMissingSetting_IsOneLineNamingIt_AndExitOne(string name, string value, string expected)
    {
        var result = await RunExtractAsync(new Dictionary<string, string> { [name] = value });

        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}: {result.Stderr}");
        Assert.StartsWith(expected, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Port=1;Username=postgres;Password=hunter2;Timeout=2", "control database: Failed to connect to 127.0.0.1:1 (FP_POSTGRES_CONNECTION: Host=127.0.0.1, Port=1,")]
    [InlineData("Host=127.0.0.1;Password=hunter2;Bogus=1", "failed; the host stops: FP_POSTGRES_CONNECTION is not a valid Npgsql connection string")]
    [InlineData("Host=127.0.0.1;Port=99999;Password=hunter2", "failed; the host stops: FP_POSTGRES_CONNECTION is not a valid Npgsql connection string (its Port, 99999, is outside 1-65535)")]
    public async Task AControlDatabase_ThatCannotBeReachedOrParsed_StopsTheHost_WithExitOne_AndOneLineNamingTheVariable(string connection, string expected)
    {
        // The connection string is parsed, and the database reached, by the startup gate while Kestrel starts.
        var result = await RunExtractAsync(new Dictionary<string, string> { ["FP_POSTGRES_CONNECTION"] = connection });

        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        var output = result.Stdout + result.Stderr;
        var failure = Assert.Single(output.Split('\n'), l => l.Contains("startup task", StringComparison.Ordinal));
        Assert.Contains(expected, failure, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APortAlreadyInUse_IsOneLineNamingIt_AndExitOne()
    {
        // Was: Kestrel's IOException escaped RunAsync: the host's "Hosting failed to start" line with the stack trace,
        // then an unhandled exception and an abort (134).
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var result = await RunExtractAsync(new Dictionary<string, string> { ["PORT"] = port });

        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        Assert.Equal($"extract: cannot start: PORT={port} is already in use", result.Stderr.TrimEnd('\n'));
        Assert.DoesNotContain("   at ", result.Stdout, StringComparison.Ordinal);
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunExtractAsync(Dictionary<string, string> env)
    {
        var psi = FpProcess.DotnetStartInfo(ExtractDll);
        psi.Environment["PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["FP_POSTGRES_CONNECTION"] = "Host=127.0.0.1;Port=1;Username=postgres;Timeout=2";
        psi.Environment["PUBSUB_EMULATOR_HOST"] = "127.0.0.1:1";
        psi.Environment["FP_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "fp-host-start-" + Guid.NewGuid().ToString("N"));
        psi.Environment.Remove("K_SERVICE");
        foreach (var (name, value) in env)
        {
            psi.Environment[name] = value;
        }

        return FpProcess.RunAsync(psi);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
