using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace FinancialPipeline.Integration.Tests;

/// <summary><c>fp up</c> pointed at an operator's own control database: the stack runs on it, and its password is never printed.</summary>
[Collection(nameof(StackFixture))]
public sealed class UpGivenDatabaseTests(StackFixture stack)
{
    [Fact]
    public async Task Up_OnAnEmulatorAnotherStackUses_CreatesAndRemovesOnlyTheTopicsOfItsFpTopicPrefix()
    {
        var prefix = StackFixture.UniqueName("up") + "-";
        var data = Directory.CreateTempSubdirectory("fp-up-shared-");
        var psi = FpProcess.StartInfo("up", "--data-dir", data.FullName, "--for", "120");
        psi.Environment["FP_POSTGRES_CONNECTION"] = stack.Infrastructure.PostgresConnection;
        psi.Environment["PUBSUB_EMULATOR_HOST"] = stack.Infrastructure.EmulatorHost;
        psi.Environment["FP_TOPIC_PREFIX"] = prefix;
        await using var pipeline = await stack.StartPipelineAsync(); // another stack on the same emulator
        using var http = new HttpClient { BaseAddress = new Uri($"http://{stack.Infrastructure.EmulatorHost}/") };
        async Task<List<string>> TopicsAsync() =>
            (await http.GetFromJsonAsync<JsonObject>("v1/projects/local-project/topics?pageSize=1000"))!["topics"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).ToList();
        using var fp = Process.Start(psi)!;
        var stderr = fp.StandardError.ReadToEndAsync();
        try
        {
            var (_, reader, exports) = await CliUpTests.ReadUntilReadyAsync(fp);

            Assert.Equal(prefix, exports["FP_TOPIC_PREFIX"]);
            Assert.Contains($"projects/local-project/topics/{prefix}start", await TopicsAsync());

            await FpProcess.TerminateAsync(fp);
            await fp.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await reader;
            Assert.True(fp.ExitCode == 0, await stderr);
            var after = await TopicsAsync();
            Assert.DoesNotContain(after, t => t.Contains("/topics/" + prefix, StringComparison.Ordinal));
            Assert.Contains($"projects/local-project/topics/{pipeline.Settings.TopicPrefix}start", after); // the other stack's are untouched
        }
        finally
        {
            await FpProcess.StopAsync(fp);
            data.Delete(recursive: true);
        }
    }

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
            // It says it starts and stops only what it does: the given PostgreSQL stays up.
            Assert.Contains("starting the Pub/Sub emulator…", output);
            Assert.Contains("stopping the function hosts and the Pub/Sub emulator…", output);
        }
        finally
        {
            await FpProcess.StopAsync(fp);
            data.Delete(recursive: true);
        }
    }
}
