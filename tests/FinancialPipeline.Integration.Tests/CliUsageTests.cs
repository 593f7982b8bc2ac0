namespace FinancialPipeline.Integration.Tests;

/// <summary>Usage errors of <c>fp</c> exit 2 with one sentence, before anything is connected to.</summary>
public sealed class CliUsageTests
{
    [Theory]
    [InlineData("fp backfill: --to 2026-11-01 must be after --from 2026-11-10 (--to is exclusive)", "backfill", "--from", "2026-11-10", "--to", "2026-11-01")]
    [InlineData("fp backfill: --window-days, --max-in-flight and --window-timeout must be at least 1", "backfill", "--from", "2026-11-01", "--to", "2026-11-08", "--window-days", "0")]
    [InlineData("fp: --execution-id 'x' is not a UUID (for example 6f0e8d7c-1111-4222-8333-944455556666)", "replay", "--execution-id", "x", "--stage", "silver")]
    [InlineData("fp: Option '--execution-id' is required.", "replay", "--stage", "silver")]
    [InlineData("fp: --from 'garbage' is not a UTC date or time (for example 2026-11-20 or 2026-11-20T13:00:00Z)", "publish", "--from", "garbage", "--to", "2026-11-21")]
    [InlineData("fp: --limit must be at least 1, got 0", "runs", "--limit", "0")]
    [InlineData("fp: --limit must be at least 1, got -1", "gold", "--limit", "-1")]
    [InlineData("fp: Option '--name' is required.", "jobs", "set", "--provider", "yahoo")]
    [InlineData("fp: --name 'Financial-Extract' must match ^[a-z][a-z0-9_]{0,63}$", "jobs", "set", "--name", "Financial-Extract")]
    [InlineData("fp: Argument 'Yahoo' not recognized. Must be one of:", "jobs", "set", "--name", "j", "--provider", "Yahoo")]
    [InlineData("fp: --silver-bucket must not be empty", "jobs", "set", "--name", "j", "--silver-bucket", " ")]
    [InlineData("fp: --interval '1h' must be a whole number of seconds", "jobs", "set", "--name", "j", "--interval", "1h")]
    [InlineData("fp: Argument 'no' not recognized. Must be one of:", "jobs", "set", "--name", "j", "--active", "no")]
    public async Task Usage_error_exits_2_with_the_reason_before_connecting(string firstLine, params string[] args)
    {
        // Nothing listens there: a command that connected before checking its arguments would say so instead.
        var result = await FpProcess.RunAsync(FpProcess.Unreachable, args);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(firstLine, result.Stderr.Split('\n')[0]);
        Assert.Empty(result.Stdout);
    }
}
