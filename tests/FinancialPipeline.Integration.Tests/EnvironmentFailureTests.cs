using System.Globalization;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// An operator command whose control database or Pub/Sub cannot be reached exits 1 with one line naming what failed,
/// never a stack trace, and not 2: the input was fine, the environment was not. A child process; the reachable half is
/// the real control database of the stack.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class EnvironmentFailureTests(StackFixture stack)
{
    [Theory]
    [InlineData("backfill", "--job", "financial_extract", "--from", "2026-01-05", "--to", "2026-01-06")]
    [InlineData("publish", "--job", "financial_extract")]
    [InlineData("replay", "--execution-id", "6f0e8d7c-1111-4222-8333-944455556666", "--stage", "silver")]
    public async Task AnUnreachableControlDatabase_ExitsOne_InOneLine(params string[] args)
    {
        var result = await FpProcess.RunAsync(FpProcess.Unreachable, args);

        AssertOneLineFailure(result, $"fp {args[0]}: control database: ");
        Assert.Empty(result.Stdout);
    }

    [Theory]
    [InlineData("runs")]
    [InlineData("runs", "--execution-id", "6f0e8d7c-1111-4222-8333-944455556666")]
    [InlineData("rejected")]
    [InlineData("jobs")]
    public async Task AReadingCommand_OnAnUnreachableControlDatabase_NamesTheVariableAndWhereItPoints_NeverThePassword(params string[] args)
    {
        var env = new Dictionary<string, string>(FpProcess.Unreachable) { ["FP_POSTGRES_CONNECTION"] = "Host=127.0.0.1;Port=1;Username=postgres;Password=hunter2;Timeout=2" };

        var result = await FpProcess.RunAsync(env, args);

        AssertOneLineFailure(result, $"fp {args[0]}: control database: ");
        Assert.Contains("(FP_POSTGRES_CONNECTION: Host=127.0.0.1, Port=1,", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run")]
    [InlineData("up")]
    public async Task TheLocalStack_OnAConfiguredButUnreachableControlDatabase_ExitsOne_InOneLine(string command)
    {
        // The emulator is the fixture's: a given one is probed first, and this test is about the database.
        var env = new Dictionary<string, string>(FpProcess.Unreachable) { ["PUBSUB_EMULATOR_HOST"] = stack.Infrastructure.EmulatorHost };

        var result = await FpProcess.RunAsync(env, command);

        AssertOneLineFailure(result, $"fp {command}: could not start the local stack: control database: ");
    }

    [Fact]
    public async Task AConnectionString_NamingTheWrongDatabase_FailsInOneLine_NamingTheVariable()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_wrong_");
        var env = stack.OperatorVariables("fp-");
        env["FP_POSTGRES_CONNECTION"] = database.ConnectionString;

        var runs = await FpProcess.RunAsync(env, "runs");

        // Npgsql's own message for a missing table runs over three lines (the SQL position); the operator gets one.
        AssertOneLineFailure(runs, "fp runs: control database: 42P01: ");
        Assert.Contains("unless FP_POSTGRES_CONNECTION names the wrong database (FP_POSTGRES_CONNECTION: ", runs.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreachablePubSub_ExitsOne_InOneLine()
    {
        var job = await stack.CreateJobAsync();
        var env = stack.OperatorVariables(StackFixture.UniqueName("u") + "-");
        env["PUBSUB_EMULATOR_HOST"] = FpProcess.Unreachable["PUBSUB_EMULATOR_HOST"];
        var yesterday = TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(-1);

        var publish = await FpProcess.RunAsync(env, "publish", "--job", job.JobName);
        var backfill = await FpProcess.RunAsync(
            env, "backfill", "--job", job.JobName, "--from", yesterday.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "--to", yesterday.AddDays(1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));

        AssertOneLineFailure(publish, "fp publish: ");
        Assert.Contains("127.0.0.1:1", publish.Stderr, StringComparison.Ordinal);
        AssertOneLineFailure(backfill, "fp backfill: ");
        Assert.Contains("127.0.0.1:1", backfill.Stderr, StringComparison.Ordinal);
    }

    private static void AssertOneLineFailure((int ExitCode, string Stdout, string Stderr) result, string start)
    {
        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}: {result.Stderr}");
        Assert.StartsWith(start, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }
}
