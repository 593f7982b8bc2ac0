namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>
/// A query job failed, or BigQuery refused to run it. <see cref="Exception.Message"/> is BigQuery's own message, verbatim.
/// <see cref="IsPermanent"/> is false only when the failure was transient and the client ran out of retries or time,
/// so a later redelivery may succeed.
/// </summary>
public sealed class BigQueryJobException : Exception
{
    public BigQueryJobException(
        string message,
        string? reason,
        string? errorLocation,
        string? jobId,
        bool isPermanent,
        int? httpStatusCode = null,
        IReadOnlyList<BigQueryError>? errors = null,
        Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
        ErrorLocation = errorLocation;
        JobId = jobId;
        IsPermanent = isPermanent;
        HttpStatusCode = httpStatusCode;
        Errors = errors ?? [];
    }

    public BigQueryJobException()
        : this("BigQuery job failed", null, null, null, isPermanent: true)
    {
    }

    public BigQueryJobException(string message)
        : this(message, null, null, null, isPermanent: true)
    {
    }

    public BigQueryJobException(string message, Exception innerException)
        : this(message, null, null, null, isPermanent: true, innerException: innerException)
    {
    }

    /// <summary>BigQuery's error reason, e.g. <c>invalidQuery</c>, <c>notFound</c>, <c>accessDenied</c>.</summary>
    public string? Reason { get; }

    /// <summary>Where BigQuery says the error is (e.g. <c>query</c>), not the job's region.</summary>
    public string? ErrorLocation { get; }

    public string? JobId { get; }

    public bool IsPermanent { get; }

    /// <summary>Set when the failure was an HTTP error response rather than a failed job.</summary>
    public int? HttpStatusCode { get; }

    /// <summary>The job's <c>status.errors</c> or the response's <c>error.errors</c>.</summary>
    public IReadOnlyList<BigQueryError> Errors { get; }
}
