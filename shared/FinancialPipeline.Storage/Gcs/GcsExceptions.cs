using System.Net;

namespace FinancialPipeline.Storage.Gcs;

/// <summary>GCS answered with an error that retrying did not fix (or that no retry can fix).</summary>
public class GcsRequestException : Exception
{
    public GcsRequestException(HttpStatusCode statusCode, string? googleMessage, string operation)
        : base($"GCS {operation} failed with {(int)statusCode} {statusCode}: {googleMessage ?? "(no error message)"}")
    {
        StatusCode = statusCode;
        GoogleMessage = googleMessage;
    }

    protected GcsRequestException(string message, HttpStatusCode statusCode, string? googleMessage)
        : base(message)
    {
        StatusCode = statusCode;
        GoogleMessage = googleMessage;
    }

    public GcsRequestException()
    {
    }

    public GcsRequestException(string message)
        : base(message)
    {
    }

    public GcsRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The HTTP status of the last answer; 0 when there was none.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary><c>error.message</c> of Google's error body, or the body's text when it is not JSON.</summary>
    public string? GoogleMessage { get; }
}
