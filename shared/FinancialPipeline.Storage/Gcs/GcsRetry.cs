using System.Net;
using FinancialPipeline.GoogleApis;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace FinancialPipeline.Storage.Gcs;

/// <summary>
/// The retry policy of every GCS request: 408, 429, 5xx, network errors and HTTP timeouts are retried with
/// exponential backoff and jitter, honouring Retry-After, up to <see cref="GcsOptions.MaxAttempts"/> attempts.
/// </summary>
internal static partial class GcsRetry
{
    public static ResiliencePipeline<HttpResponseMessage> Build(GcsOptions options, TimeProvider timeProvider, ILogger logger)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = timeProvider };
        if (options.MaxAttempts > 1)
        {
            var maxDelay = options.RetryMaxDelay;
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = maxDelay,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome, args.Context.CancellationToken)),
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, timeProvider, maxDelay)),
                OnRetry = args =>
                {
                    var reason = args.Outcome.Exception is { } e
                        ? e.GetType().Name + ": " + e.Message
                        : $"HTTP {(int)args.Outcome.Result!.StatusCode}";
                    LogRetry(logger, args.Context.OperationKey, args.AttemptNumber + 1, reason, args.RetryDelay.TotalMilliseconds);
                    return default;
                },
            });
        }

        return builder.Build();
    }

    public static bool IsRetryableStatus(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>A failure retrying may fix; the caller's own cancellation is not one.</summary>
    public static bool IsTransient(Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken) => outcome.Exception is { } exception
        ? HttpTransience.IsTransient(exception, cancellationToken)
        : outcome.Result is { } response && IsRetryableStatus(response.StatusCode);

    /// <summary>The server's Retry-After (seconds or an HTTP date), capped at <paramref name="maxDelay"/>; null when absent.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeProvider timeProvider, TimeSpan maxDelay)
    {
        var header = response?.Headers.RetryAfter;
        TimeSpan? delay = header?.Delta ?? (header?.Date is { } date ? date - timeProvider.GetUtcNow() : null);
        if (delay is not { } value)
        {
            return null;
        }

        return value < TimeSpan.Zero ? TimeSpan.Zero : value > maxDelay ? maxDelay : value;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "GCS {Operation}: attempt {Attempt} failed ({Reason}); retrying in {DelayMilliseconds} ms")]
    private static partial void LogRetry(ILogger logger, string? operation, int attempt, string reason, double delayMilliseconds);
}
