using System.Text.RegularExpressions;
using FinancialPipeline.Cli;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Integration.Tests;

/// <summary>How <c>fp runs --execution-id</c> lays out one execution's stages, without a database.</summary>
public sealed class ExecutionReportTests
{
    [Fact]
    public void EveryFieldOfAStage_TheQuarantineLineIncluded_StartsInOneColumn()
    {
        var id = Guid.NewGuid();
        var stages = new[]
        {
            LedgerCellsTests.Row("bronze", "SUCCESS", new RecordCounts(390, 390, 0), id),
            LedgerCellsTests.Row("silver", "SUCCESS", new RecordCounts(390, 0, 390), id),
        };
        var facts = new ExecutionReport.Facts(id, stages, [], []);

        var report = ExecutionReport.Render(facts, stages[0].CreatedAt, TimeSpan.FromSeconds(90));

        var fields = Regex.Matches(report, "^  ([a-z]+):( +)", RegexOptions.Multiline);
        Assert.Contains(fields, f => f.Groups[1].Value == "quarantine");
        Assert.Contains($"  quarantine: 390 row(s) set aside: fp quarantine --execution-id {id:D} lists them", report, StringComparison.Ordinal);
        Assert.Single(fields.Select(f => f.Length).Distinct());
    }
}
