namespace FinancialPipeline.GoogleApis;

/// <summary>Which failures of an HTTP call to a Google API retrying may fix, for every REST adapter's retry policy.</summary>
public static class HttpTransience
{
    /// <summary>
    /// A network error, or a timeout: HttpClient reports its own timeout as a <see cref="TaskCanceledException"/>
    /// whose token is cancelled too, so only <paramref name="callerToken"/> (the caller's own cancellation, which
    /// is never retried) tells the two apart.
    /// </summary>
    public static bool IsTransient(Exception exception, CancellationToken callerToken) => exception switch
    {
        HttpRequestException or IOException => true,
        OperationCanceledException => !callerToken.IsCancellationRequested,
        _ => false,
    };
}
