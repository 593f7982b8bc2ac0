namespace FinancialPipeline.Providers.Yahoo;

/// <summary>Where and how politely <see cref="YahooChartProvider"/> talks to the chart API.</summary>
public sealed class YahooOptions
{
    public const string DefaultBaseUrl = "https://query2.finance.yahoo.com";

    /// <summary>A current desktop browser; Yahoo answers 429 to library user agents.</summary>
    public const string DefaultUserAgent =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    /// <summary>Scheme, host and optional path prefix; a proxy, mirror or local stub can stand in for Yahoo.</summary>
    public Uri BaseUrl { get; set; } = new(DefaultBaseUrl);

    public string UserAgent { get; set; } = DefaultUserAgent;

    /// <summary>Sustained request rate of one provider (all tickers, retries included).</summary>
    public double RequestsPerSecond { get; set; } = 5;

    /// <summary>Requests that may go out back to back after a quiet spell, on top of the sustained rate.</summary>
    public int Burst { get; set; } = 2;

    /// <summary>HTTP requests of one provider in flight at once.</summary>
    public int MaxConcurrency { get; set; } = 4;

    /// <summary>Tries per request window, the first included (429, 5xx, timeouts and network errors are retried).</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>First backoff; it doubles with each retry (with ±20 % jitter) unless the server sends Retry-After.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest single wait before a retry; a Retry-After asking for more ends the retries for that ticker.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Limit for one HTTP attempt, response body included (not the wait for a rate-limit token).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The problems with these settings; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (BaseUrl is null || !BaseUrl.IsAbsoluteUri || (BaseUrl.Scheme != Uri.UriSchemeHttp && BaseUrl.Scheme != Uri.UriSchemeHttps))
        {
            problems.Add($"{nameof(BaseUrl)} must be an absolute http(s) URL, got '{BaseUrl}'");
        }

        if (string.IsNullOrWhiteSpace(UserAgent))
        {
            problems.Add($"{nameof(UserAgent)} must not be empty");
        }

        if (!(RequestsPerSecond > 0) || double.IsInfinity(RequestsPerSecond))
        {
            problems.Add($"{nameof(RequestsPerSecond)} must be a positive number, got {RequestsPerSecond}");
        }

        if (Burst < 1)
        {
            problems.Add($"{nameof(Burst)} must be at least 1, got {Burst}");
        }

        if (MaxConcurrency < 1)
        {
            problems.Add($"{nameof(MaxConcurrency)} must be at least 1, got {MaxConcurrency}");
        }

        if (MaxAttempts < 1)
        {
            problems.Add($"{nameof(MaxAttempts)} must be at least 1, got {MaxAttempts}");
        }

        if (RetryBaseDelay < TimeSpan.Zero || MaxRetryDelay < TimeSpan.Zero)
        {
            problems.Add($"{nameof(RetryBaseDelay)} and {nameof(MaxRetryDelay)} must not be negative");
        }

        if (AttemptTimeout <= TimeSpan.Zero)
        {
            problems.Add($"{nameof(AttemptTimeout)} must be positive, got {AttemptTimeout}");
        }

        return problems;
    }

    internal void EnsureValid()
    {
        var problems = Problems();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid Yahoo options: " + string.Join("; ", problems));
        }
    }
}
