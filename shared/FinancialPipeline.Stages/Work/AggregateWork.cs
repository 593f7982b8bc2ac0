using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Core.Warehouse;
using FinancialPipeline.Stages.Runner;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// Gold: MERGEs the hourly aggregates of the bar dates silver touched into <c>financial_data_hour</c>. The outcome's
/// <c>newest_timestamp</c> (and the <c>newest_hour_unix_seconds</c> metric, kept in the ledger row) is the gold table's
/// newest hour after the MERGE, so a freshness check can compare it with the market calendar; when silver touched
/// nothing no MERGE runs, and the mark is still the table's newest hour (absent only while gold is empty).
/// </summary>
public sealed class AggregateWork(IGoldWarehouse warehouse, string warehouseLocation) : IStageWork
{
    public Stage Stage => Stage.Gold;

    public async Task<StageOutcome> ExecuteAsync(StageContext context)
    {
        var upstream = context.Input.Upstream ?? throw new InvalidOperationException("gold needs the silver completion event");
        var window = await context.PinWindowAsync(upstream.Window.ToWindow());
        var dates = new List<DateOnly>();
        foreach (var key in upstream.TouchedDates)
        {
            // StageCompletedMessage.Parse rejected a malformed key before the claim.
            dates.Add(ObjectLayout.TryParseDateKey(key, out var d) ? d : throw new InvalidOperationException($"touched_dates: '{key}' is not yyyy-MM-dd"));
        }

        await context.EnsureOwnedAsync();
        var result = await warehouse.MergeHoursAsync(context.Lease.ExecutionId, context.Lease.Attempt, context.Job.SilverBucketName, dates, context.CancellationToken);
        return new StageOutcome(
            window,
            new RecordCounts(result.HoursInScope, result.RowsAffected, 0),
            [$"{warehouseLocation}#{result.Table}"],
            upstream.TouchedDates,
            Metrics(result),
            [],
            result.NewestHour);
    }

    private static Dictionary<string, long> Metrics(GoldMergeResult result)
    {
        var metrics = new Dictionary<string, long> { ["hours_in_scope"] = result.HoursInScope, ["rows_merged"] = result.RowsAffected };
        if (result.NewestHour is { } newest)
        {
            metrics["newest_hour_unix_seconds"] = newest.ToUnixTimeSeconds();
        }

        if (result.BytesBilled is { } billed)
        {
            metrics["bytes_billed"] = billed;
        }

        return metrics;
    }
}
