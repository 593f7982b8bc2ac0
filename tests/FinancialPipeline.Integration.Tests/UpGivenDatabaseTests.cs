using System.Diagnostics;

namespace FinancialPipeline.Integration.Tests;

/// <summary><c>fp up</c> pointed at an operator's own control database: the stack runs on it, and its password is never printed.</summary>
[Collection(nameof(StackFixture))]
public sealed class UpGivenDatabaseTests(StackFixture stack)
{
    [Fact]
    public async Task Up_WithAGivenConnectionString_NeverPrintsIt_AndSaysToExportItInTheOtherShell()
    {
        const string secret = "NotShownSecret7";
        var data = Directory.CreateTempSubdirectory("fp-up-given-");
        var psi = FpProcess.WithOwnStack(FpProcess.StartInfo("up", "--data-dir", data.FullName, "--for", "120"));
        // The fixture's cluster trusts loopback connections, so the password is carried but never checked.
        psi.Environment["FP_POSTGRES_CONNECTION"] = stack.Infrastructure.PostgresConnection + ";Password=" + secret;
        using var fp = Process.Start(psi)!;
        var stderr = fp.StandardError.ReadToEndAsync();
        try
        {
            var (output, reader, exports) = await CliUpTests.ReadUntilReadyAsync(fp);

            Assert.DoesNotContain(output, line => line.Contains(secret, StringComparison.OrdinalIgnoreCase));
            Assert.False(exports.ContainsKey("FP_POSTGRES_CONNECTION"), string.Join('\n', output));
            Assert.Contains("# FP_POSTGRES_CONNECTION: the one given to fp up (not repeated: it may hold a password); export it there too", output);
            Assert.Equal(5, exports.Count);

            await FpProcess.TerminateAsync(fp);
            await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await reader;
            Assert.DoesNotContain(secret, await stderr, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(0, fp.ExitCode);
        }
        finally
        {
            await FpProcess.StopAsync(fp);
            data.Delete(recursive: true);
        }
    }
}
