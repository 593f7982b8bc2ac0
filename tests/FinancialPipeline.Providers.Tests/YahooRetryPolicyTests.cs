using System.Net;
using System.Net.Http.Headers;
using FinancialPipeline.Providers.Yahoo;

namespace FinancialPipeline.Providers.Tests;

public class YahooRetryPolicyTests
{
    private static readonly DateTimeOffset Now = Fixtures.At("2024-03-04T12:00:00Z");

    [Fact]
    public void RetryAfter_Seconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(7), YahooRetryPolicy.RetryAfter(new RetryConditionHeaderValue(TimeSpan.FromSeconds(7)), Now));
    }

    [Fact]
    public void RetryAfter_HttpDate_IsRelativeToNow()
    {
        var header = RetryConditionHeaderValue.Parse("Mon, 04 Mar 2024 12:00:42 GMT");

        Assert.Equal(TimeSpan.FromSeconds(42), YahooRetryPolicy.RetryAfter(header, Now));
    }

    [Fact]
    public void RetryAfter_DateInThePast_IsNoWait()
    {
        var header = RetryConditionHeaderValue.Parse("Mon, 04 Mar 2024 11:00:00 GMT");

        Assert.Equal(TimeSpan.Zero, YahooRetryPolicy.RetryAfter(header, Now));
    }

    [Fact]
    public void RetryAfter_Absent_IsNull()
    {
        Assert.Null(YahooRetryPolicy.RetryAfter(null, Now));
    }

    [Fact]
    public void Backoff_DoublesEachRetry_WithBoundedJitter()
    {
        var baseDelay = TimeSpan.FromSeconds(1);

        Assert.Equal(TimeSpan.FromSeconds(1), YahooRetryPolicy.Backoff(1, baseDelay, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(2), YahooRetryPolicy.Backoff(2, baseDelay, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(4), YahooRetryPolicy.Backoff(3, baseDelay, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(3.2), YahooRetryPolicy.Backoff(3, baseDelay, 0));
        Assert.True(YahooRetryPolicy.Backoff(3, baseDelay, 0.999) < TimeSpan.FromSeconds(4.8));
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.BadGateway, true)]
    [InlineData(HttpStatusCode.RequestTimeout, true)]
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.BadRequest, false)]
    [InlineData(HttpStatusCode.Unauthorized, false)]
    public void IsTransient(HttpStatusCode status, bool transient)
    {
        Assert.Equal(transient, YahooRetryPolicy.IsTransient(status));
    }
}
