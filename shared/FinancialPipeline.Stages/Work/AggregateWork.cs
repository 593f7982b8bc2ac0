using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Core.Warehouse;
using FinancialPipeline.Stages.Runner;

namespace FinancialPipeline.Stages.Work;

/// <summary>Gold: MERGEs the hourly aggregates of the bar dates silver touched into <c>financial_data_hour</c>.</summary>
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
            dates.Add(ObjectLayout.TryParseDateKey(key, out var d) ? d : throw new MessageRejectedException("touched_dates", $"'{key}' is not yyyy-MM-dd"));
        }

        await context.EnsureOwnedAsync();
        var result = await warehouse.MergeHoursAsync(context.Lease.ExecutionId, context.Lease.Attempt, context.Job.SilverBucketName, dates, context.CancellationToken);
        return new StageOutcome(
            window,
            new RecordCounts(result.HoursInScope, result.RowsAffected, 0),
            [$"{warehouseLocation}#{result.Table}"],
            upstream.TouchedDates,
            new Dictionary<string, long> { ["hours_in_scope"] = result.HoursInScope, ["rows_merged"] = result.RowsAffected },
            [],
            result.NewestHour);
    }
}
