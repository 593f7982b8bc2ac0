namespace FinancialPipeline.Core.Warehouse;

/// <summary>What one gold MERGE did.</summary>
public sealed record GoldMergeResult(long RowsAffected, long HoursInScope, DateTimeOffset? NewestHour, string Table);

/// <summary>
/// The gold warehouse: recomputes the hourly aggregates of the touched bar dates from silver and MERGEs them
/// into <c>financial_data_hour</c>, idempotently. DuckDB locally, BigQuery in the cloud.
/// </summary>
public interface IGoldWarehouse
{
    Task<GoldMergeResult> MergeHoursAsync(Guid executionId, int attempt, string silverBucket, IReadOnlyCollection<DateOnly> touchedDates, CancellationToken cancellationToken);
}
