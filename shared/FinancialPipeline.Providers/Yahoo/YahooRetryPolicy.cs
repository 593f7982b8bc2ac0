using System.Net;
using System.Net.Http.Headers;

namespace FinancialPipeline.Providers.Yahoo;

/// <summary>Which answers are worth another try, and how long to wait before it.</summary>
internal static class YahooRetryPolicy
{
    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout || (int)status >= 500;

    /// <summary>The wait a <c>Retry-After</c> header asks for (delta seconds or an HTTP date, never negative), or null.</summary>
    public static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, DateTimeOffset now)
    {
        if (header?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - now;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    /// <summary>Exponential backoff: base × 2^(retry−1), scaled by a jitter factor in [0.8, 1.2).</summary>
    /// <param name="retry">1 for the first retry.</param>
    /// <param name="unitRandom">A value in [0, 1).</param>
    public static TimeSpan Backoff(int retry, TimeSpan baseDelay, double unitRandom)
    {
        var factor = Math.Pow(2, Math.Min(retry - 1, 30)) * (0.8 + (0.4 * unitRandom));
        return TimeSpan.FromTicks((long)Math.Min(baseDelay.Ticks * factor, TimeSpan.MaxValue.Ticks / 2.0));
    }
}
