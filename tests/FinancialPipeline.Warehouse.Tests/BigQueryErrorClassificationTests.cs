using FinancialPipeline.Warehouse.BigQuery;

namespace FinancialPipeline.Warehouse.Tests;

public sealed class BigQueryErrorClassificationTests
{
    [Theory]
    [InlineData("rateLimitExceeded", "Exceeded rate limits", true)]
    [InlineData("backendError", "Backend error", true)]
    [InlineData("internalError", "Internal error", true)]
    [InlineData("jobInternalError", "Job internal error", true)]
    [InlineData("invalidQuery", "Could not serialize access to table p:d.t due to concurrent update", true)]
    [InlineData("invalidQuery", "Syntax error: Unexpected keyword", false)]
    [InlineData("quotaExceeded", "Quota exceeded: Your project exceeded quota for free query bytes scanned", false)]
    [InlineData("accessDenied", "Access Denied: Table p:d.t", false)]
    [InlineData(null, "Something odd", false)]
    public void Only_transient_reasons_and_serialization_conflicts_are_retried(string? reason, string message, bool transient) =>
        Assert.Equal(transient, BigQueryRestClient.IsTransientJobError(new BigQueryError(reason, null, message), []));

    [Fact]
    public void Serialization_conflict_reported_only_in_errors_list_is_retried()
    {
        var summary = new BigQueryError("invalidQuery", null, "Transaction is aborted");
        var details = new[] { new BigQueryError("invalidQuery", null, "Could not serialize access to table p:d.t due to concurrent update") };

        Assert.True(BigQueryRestClient.IsTransientJobError(summary, details));
    }
}
