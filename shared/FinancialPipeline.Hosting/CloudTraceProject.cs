using Microsoft.AspNetCore.Http;

namespace FinancialPipeline.Hosting;

/// <summary>
/// Cloud Logging groups a request's log lines under it when each JSON line names the request's trace in the field
/// <see cref="TraceField"/>: <c>projects/P/traces/TRACE_ID</c>, the trace id taken from the request's W3C
/// <c>traceparent</c> header or Google's <c>X-Cloud-Trace-Context</c> (<c>TRACE_ID/SPAN_ID;o=1</c>). Registered
/// by the host when it writes JSON logs and knows its project (<c>FP_PROJECT_ID</c> or <c>GOOGLE_CLOUD_PROJECT</c>).
/// </summary>
public sealed record CloudTraceProject(string ProjectId)
{
    public const string TraceField = "logging.googleapis.com/trace";

    /// <summary>The trace of the request, or null when it carries none (or a malformed one: 32 hex digits, not all 0).</summary>
    public string? TraceOf(IHeaderDictionary headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var id = headers.TryGetValue("traceparent", out var w3c) && w3c.ToString().Split('-') is [_, var fromW3c, _, _]
            ? fromW3c
            : headers.TryGetValue("X-Cloud-Trace-Context", out var google) ? google.ToString().Split('/')[0] : null;
        return id is { Length: 32 } && id.All(char.IsAsciiHexDigit) && id.Any(c => c != '0')
            ? $"projects/{ProjectId}/traces/{id.ToLowerInvariant()}"
            : null;
    }
}
