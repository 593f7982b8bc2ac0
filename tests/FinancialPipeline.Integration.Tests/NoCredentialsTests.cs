using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// An operator pointed at real Pub/Sub without Google credentials: one line saying what to set, never a stack
/// trace; and a replay whose trigger cannot be published says that its rows were reset and how to finish it.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class NoCredentialsTests(StackFixture stack)
{
    [Fact]
    public async Task PublishAndReplay_WithoutCredentials_SayWhatToSet_AndTheReplaySaysWhatItReset()
    {
        var job = await stack.CreateJobAsync();
        var executionId = Guid.NewGuid();
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions());
        var claim = await ledger.ClaimAsync(new ClaimRequest(executionId, Stage.Bronze, job.JobName, null, null, null, null), CancellationToken.None);
        Assert.True(await ledger.FailAsync(claim.Lease!, "boom", CancellationToken.None));

        var publish = await WithoutCredentialsAsync("publish", "--job", job.JobName);
        var replay = await WithoutCredentialsAsync("replay", "--execution-id", executionId.ToString("D"), "--stage", "bronze", "--by", "tests");

        Assert.Equal(1, publish.ExitCode);
        Assert.StartsWith("fp publish: no Google credentials: Application Default Credentials were not found", publish.Stderr, StringComparison.Ordinal);
        Assert.True(replay.ExitCode == 1, replay.Stderr);
        Assert.StartsWith("fp replay: reset bronze, but could not publish the trigger to fp-start: no Google credentials", replay.Stderr, StringComparison.Ordinal);
        Assert.Contains($"run this fp replay again once Pub/Sub is reachable (fp runs --execution-id {executionId:D} shows them as 'reset for replay')", replay.Stderr, StringComparison.Ordinal);
        foreach (var stderr in new[] { publish.Stderr, replay.Stderr })
        {
            Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
            Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        }

        var reset = await ledger.GetAsync(executionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal("FAILED", reset!.Status);
        Assert.StartsWith("reset for replay by tests", reset.Error, StringComparison.Ordinal);
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> WithoutCredentialsAsync(params string[] args)
    {
        var psi = FpProcess.StartInfo(args);
        psi.Environment["FP_POSTGRES_CONNECTION"] = stack.Infrastructure.PostgresConnection;
        psi.Environment.Remove("PUBSUB_EMULATOR_HOST");
        psi.Environment["FP_PROJECT_ID"] = "fp-no-credentials";
        // A key file that does not exist: the lookup fails at once instead of probing for a metadata server.
        psi.Environment["GOOGLE_APPLICATION_CREDENTIALS"] = Path.Combine(Path.GetTempPath(), "fp-no-such-key-" + Guid.NewGuid().ToString("N") + ".json");
        return FpProcess.RunAsync(psi);
    }
}
