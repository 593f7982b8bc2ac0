namespace FinancialPipeline.Core.Warehouse;

/// <summary>What one gold MERGE did (none runs when nothing was touched; the freshness mark is read all the same).</summary>
/// <param name="RowsAffected">Gold rows inserted, updated or deleted (unchanged rows are not rewritten).</param>
/// <param name="HoursInScope">Gold rows of the job's tickers on the touched dates after the MERGE.</param>
/// <param name="NewestHour">The table's newest hour after the MERGE, also when nothing was touched: the freshness mark (null when gold is empty from the touched dates on, or at all when nothing was touched).</param>
/// <param name="BytesBilled">What the warehouse billed for the run, when it bills (BigQuery).</param>
public sealed record GoldMergeResult(long RowsAffected, long HoursInScope, DateTimeOffset? NewestHour, string Table, long? BytesBilled = null);

/// <summary>
/// The gold warehouse: recomputes the hourly aggregates of the touched bar dates from silver and MERGEs them
/// into <c>financial_data_hour</c>, idempotently. DuckDB locally, BigQuery in the cloud.
/// </summary>
public interface IGoldWarehouse
{
    /// <param name="tickers">The job's tickers: the MERGE reads, changes and deletes only their rows, so jobs sharing the
    /// table (each with its own silver bucket, locally) never touch each other's hours.</param>
    Task<GoldMergeResult> MergeHoursAsync(Guid executionId, int attempt, string silverBucket, IReadOnlyCollection<string> tickers, IReadOnlyCollection<DateOnly> touchedDates, CancellationToken cancellationToken);
}
