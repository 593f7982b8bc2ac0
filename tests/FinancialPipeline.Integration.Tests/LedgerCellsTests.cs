using System.Text;
using FinancialPipeline.Cli;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Integration.Tests;

/// <summary>The counts column of <c>fp run</c> / <c>fp runs</c>, read from the stored completion events.</summary>
public sealed class LedgerCellsTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 24, 5, 0, 0, TimeSpan.Zero);

    [Fact]
    public void CountsComeFromTheCompletionEventWithRejectedRowsNamed()
    {
        Assert.Equal("350 → 347 (3 rejected)", LedgerCells.Records(Row("silver", "SUCCESS", new RecordCounts(350, 347, 3))));
        Assert.Equal("350 → 350", LedgerCells.Records(Row("bronze", "SUCCESS", new RecordCounts(350, 350, 0))));
    }

    [Fact]
    public void SilversSupersededRows_AreNamed_SoAReplayOfAnOlderExecutionDoesNotReadAsRowsLost()
    {
        // A replay of an older execution: 5 of its 16 rows are already in silver from a newer ingestion.
        var row = Row("silver", "SUCCESS", new RecordCounts(16, 5, 6), metrics: new Dictionary<string, long> { ["rows_superseded"] = 5 });

        Assert.Equal("16 → 5 (6 rejected, 5 superseded)", LedgerCells.Records(row));
        Assert.Equal("16 → 11 (5 superseded)", LedgerCells.Records(new RecordCounts(16, 11, 0), superseded: 5));
    }

    [Fact]
    public void BronzesDroppedRows_AreShownWithTheirReasons_WhenTheEventRecordsThem()
    {
        var both = Row("bronze", "SUCCESS", new RecordCounts(19, 16, 3), metrics: new Dictionary<string, long>
        {
            ["bars_dropped"] = 3, ["bars_dropped_null"] = 2, ["bars_dropped_duplicate"] = 1,
        });
        var nullsOnly = Row("bronze", "SUCCESS", new RecordCounts(10, 9, 1), metrics: new Dictionary<string, long>
        {
            ["bars_dropped"] = 1, ["bars_dropped_null"] = 1, ["bars_dropped_duplicate"] = 0,
        });
        var beforeTheReasons = Row("bronze", "SUCCESS", new RecordCounts(19, 16, 3), metrics: new Dictionary<string, long> { ["bars_dropped"] = 3 });

        Assert.Equal("19 → 16 (3 rejected: 2 null, 1 duplicate)", LedgerCells.Records(both));
        Assert.Equal("10 → 9 (1 rejected: 1 null)", LedgerCells.Records(nullsOnly));
        Assert.Equal("19 → 16 (3 rejected)", LedgerCells.Records(beforeTheReasons));
    }

    [Theory]
    [InlineData(187.25, "187.2500")]
    [InlineData(0.000123456, "0.00012346")]
    [InlineData(0.5, "0.5000")]
    [InlineData(0, "0.0000")]
    public void FpGoldPrices_KeepFourDecimals_AndSubPennyPricesTheirDigits(double price, string shown)
    {
        Assert.Equal(shown, GoldCommand.Price(price));
    }

    [Fact]
    public void WithoutACompletionEventTheLedgersOwnCountIsShown()
    {
        Assert.Equal("12", LedgerCells.Records(Row("gold", "RUNNING", null) with { Records = 12 }));
        Assert.Equal("-", LedgerCells.Records(Row("gold", "RUNNING", null)));
        Assert.Equal("7", LedgerCells.Records(Row("gold", "SUCCESS", null) with { CompletionJson = "{\"schema_version\":99}", Records = 7 }));
    }

    [Fact]
    public void OnlyASuccessfulGoldThatChangedNothingIsExplainedAsUnchanged()
    {
        Assert.True(LedgerCells.GoldUnchanged(Row("gold", "SUCCESS", new RecordCounts(350, 0, 0))));
        Assert.False(LedgerCells.GoldUnchanged(Row("gold", "SUCCESS", new RecordCounts(350, 12, 0))));
        Assert.False(LedgerCells.GoldUnchanged(Row("gold", "SUCCESS", new RecordCounts(0, 0, 0)))); // nothing came in
        Assert.False(LedgerCells.GoldUnchanged(Row("silver", "SUCCESS", new RecordCounts(350, 0, 350))));
        Assert.False(LedgerCells.GoldUnchanged(Row("gold", "FAILED", null)));
    }

    /// <summary>A ledger row of <paramref name="stage"/>; with <paramref name="counts"/>, the completion event it stored.</summary>
    [Fact]
    public void ARunningStage_ThatStartedAfterTheClockWasRead_RunsForZero_NotANegativeTime()
    {
        // fp runs read its clock before its queries, so a stage claimed meanwhile showed "-0.31s".
        var running = Row("bronze", "RUNNING", null) with { StartedAt = At.AddMilliseconds(310) };

        Assert.Equal(TimeSpan.Zero, running.Duration(At));
        Assert.Equal(TimeSpan.FromSeconds(2), running.Duration(At.AddMilliseconds(2310)));
    }

    internal static ExecutionRow Row(string stage, string status, RecordCounts? counts, Guid? executionId = null, IReadOnlyDictionary<string, long>? metrics = null)
    {
        var id = executionId ?? Guid.NewGuid();
        string? json = null;
        if (counts is not null)
        {
            json = Encoding.UTF8.GetString(new StageCompletedMessage
            {
                ExecutionId = id,
                JobName = "financial_extract",
                Stage = stage,
                Window = new WindowDto(At.AddHours(-2), At),
                Records = counts,
                Metrics = metrics ?? new Dictionary<string, long>(),
                CompletedAt = At,
            }.ToUtf8Json());
        }

        return new ExecutionRow(1, id, stage, "financial_extract", status, 1, "new", At, At.AddHours(-2), At, null, counts?.Written, null, json, At, At, "incremental", At, status == "SUCCESS" ? At : null, At);
    }
}
