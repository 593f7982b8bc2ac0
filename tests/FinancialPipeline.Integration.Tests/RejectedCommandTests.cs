using System.Globalization;
using System.Text;
using FinancialPipeline.ControlDb;
using Microsoft.Extensions.Logging.Abstractions;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <c>fp rejected</c> and the <c>fp runs</c> line that points at it, run as an operator runs them: a child process
/// given only the environment variables, over messages the Extract host really rejected through the emulator.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class RejectedCommandTests(StackFixture stack)
{
    [Fact]
    public async Task Rejected_WhenNothingMatches_SaysSoForTheFunctionAsked_AndExits0()
    {
        // A database of its own: other tests record rejections in the shared one.
        await using var database = await stack.CreateDatabaseAsync("fp_rejected_");
        await new ControlDbMigrator(database.ConnectionString, NullLogger<ControlDbMigrator>.Instance).MigrateAsync();
        var env = stack.OperatorVariables("fp-");
        env["FP_POSTGRES_CONNECTION"] = database.ConnectionString;

        var ofTransform = await FpProcess.RunAsync(env, "rejected", "--function", "transform");
        var all = await FpProcess.RunAsync(env, "rejected");

        Assert.Equal((0, "no message rejected by transform\n", string.Empty), (ofTransform.ExitCode, ofTransform.Stdout, ofTransform.Stderr));
        Assert.Equal((0, "no rejected messages\n", string.Empty), (all.ExitCode, all.Stdout, all.Stderr));
    }

    [Fact]
    public async Task Rejected_ListsAndShowsWhatTheHostsRefused_WithoutLettingAPayloadDriveTheTerminal()
    {
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        var marker = Guid.NewGuid().ToString("N");
        var escape = await driver.PublishRawAsync(Encoding.UTF8.GetBytes($"{{\"execution_id\":\"\u001b[31m{marker}\",\"job_name\":\"x\"}}"));
        byte[] binary = [0xff, 0xfe, 0x00, 0x41, 0x80];
        var notUtf8 = await driver.PublishRawAsync(binary, new Dictionary<string, string> { ["origin"] = marker });
        var store = new RejectedMessageStore(stack.DataSource);
        var rows = await Eventually.WaitAsync(
            async () =>
            {
                var ours = (await store.ListByFunctionAsync("extract", since, CancellationToken.None)).Where(r => r.MessageId == escape || r.MessageId == notUtf8).ToList();
                return ours.Count == 2 ? ours : null;
            },
            PipelineDriver.RunTimeout,
            "both messages recorded as rejected");
        var escapeRow = rows.Single(r => r.MessageId == escape);
        var binaryRow = rows.Single(r => r.MessageId == notUtf8);
        var env = stack.OperatorVariables(pipeline);

        var list = await FpProcess.RunAsync(env, "rejected", "--function", "extract", "--limit", "500");
        Assert.Equal(0, list.ExitCode);
        Assert.DoesNotContain('\u001b', list.Stdout);
        var escapeLine = list.Stdout.Split('\n').Single(l => l.StartsWith($"│ {escapeRow.Id.ToString(CultureInfo.InvariantCulture)} ", StringComparison.Ordinal));
        Assert.Contains("│ data ", escapeLine, StringComparison.Ordinal);
        Assert.Contains("\\u001b[31m", escapeLine, StringComparison.Ordinal);
        Assert.Contains("(5 bytes, not UTF-8)", list.Stdout, StringComparison.Ordinal);

        var whole = await FpProcess.RunAsync(env, "rejected", "--id", escapeRow.Id.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(0, whole.ExitCode);
        Assert.DoesNotContain('\u001b', whole.Stdout);
        Assert.Contains($"message:      {escape}", whole.Stdout, StringComparison.Ordinal);
        Assert.Contains($"reason:       {escapeRow.Reason}", whole.Stdout, StringComparison.Ordinal);
        Assert.Contains($"\\u001b[31m{marker}", whole.Stdout, StringComparison.Ordinal);

        var base64 = await FpProcess.RunAsync(env, "rejected", "--id", binaryRow.Id.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(0, base64.ExitCode);
        Assert.Contains("5 bytes, not UTF-8, base64", base64.Stdout, StringComparison.Ordinal);
        Assert.Contains(Convert.ToBase64String(binary), base64.Stdout, StringComparison.Ordinal);
        Assert.Contains(marker, base64.Stdout, StringComparison.Ordinal);

        var missing = await FpProcess.RunAsync(env, "rejected", "--id", long.MaxValue.ToString(CultureInfo.InvariantCulture));
        Assert.Equal((1, $"fp rejected: no rejected message has id {long.MaxValue}"), (missing.ExitCode, missing.Stderr.Trim()));

        var unknownFunction = await FpProcess.RunAsync(env, "rejected", "--function", "nope");
        Assert.NotEqual(0, unknownFunction.ExitCode);
        Assert.Contains("'nope'", unknownFunction.Stderr + unknownFunction.Stdout, StringComparison.Ordinal);

        // A rejected start message leaves no ledger row: fp runs says where to look.
        var runs = await FpProcess.RunAsync(env, "runs", "--limit", "1");
        Assert.Equal(0, runs.ExitCode);
        Assert.Matches("[0-9]+ message\\(s\\) rejected in the last 24 h .*fp rejected lists them", runs.Stdout);
    }
}
