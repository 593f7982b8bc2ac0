namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>A finished, successful query job.</summary>
/// <param name="JobId">The job that produced the result: the requested id, or a <c>-r{n}</c> retry of it.</param>
/// <param name="ReusedExistingJob">True when the insert met an existing job with this id (409) and the client adopted it.</param>
public sealed record BigQueryJobResult(
    string JobId,
    string Location,
    long? NumDmlAffectedRows,
    long? TotalBytesProcessed,
    long? TotalBytesBilled,
    bool ReusedExistingJob);

/// <summary>One entry of BigQuery's <c>errorResult</c> / <c>errors[]</c> (ErrorProto).</summary>
public sealed record BigQueryError(string? Reason, string? Location, string Message);
