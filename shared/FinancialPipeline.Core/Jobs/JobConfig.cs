using System.Text.RegularExpressions;

namespace FinancialPipeline.Core.Jobs;

/// <summary>
/// One row of <c>ingestion_job_config</c>, validated. Column names follow the seed:
/// <c>interval</c> is the schedule interval in seconds, <c>overlap</c> the seconds re-fetched before
/// the previous window's end; <c>bar_interval</c> is the provider's bar size ("1h").
/// </summary>
public sealed partial record JobConfig
{
    public required string JobName { get; init; }

    public required IReadOnlyList<string> Tickers { get; init; }

    public required int IntervalSeconds { get; init; }

    public required int OverlapSeconds { get; init; }

    public required string BucketName { get; init; }

    public required string SilverBucketName { get; init; }

    public required string Provider { get; init; }

    public required string BarInterval { get; init; }

    public required int LookbackSeconds { get; init; }

    public bool Active { get; init; } = true;

    public TimeSpan BarSize => ParseBarInterval(BarInterval);

    public TimeSpan Overlap => TimeSpan.FromSeconds(OverlapSeconds);

    public TimeSpan Lookback => TimeSpan.FromSeconds(LookbackSeconds);

    /// <summary>The bounds of <see cref="IntervalSeconds"/>, stated in <see cref="IntervalRule"/>.</summary>
    public const int MinIntervalSeconds = 60;

    /// <inheritdoc cref="MinIntervalSeconds"/>
    public const int MaxIntervalSeconds = 7 * 86400;

    public const string IntervalRule = "between 60 and 604800 seconds";

    /// <summary>The upper bound of <see cref="OverlapSeconds"/> (30 days); the lower is one bar.</summary>
    public const int MaxOverlapSeconds = 30 * 86400;

    /// <summary>The upper bound of <see cref="LookbackSeconds"/> (730 days), stated in <see cref="LookbackRule"/>; the lower is 1.</summary>
    public const int MaxLookbackSeconds = 730 * 86400;

    public const string LookbackRule = "between 1 second and 730 days";

    /// <summary>Validates raw column values; throws <see cref="JobConfigException"/> naming the column.</summary>
    public static JobConfig Create(
        string jobName,
        string tickers,
        int? interval,
        int? overlap,
        string bucketName,
        string? silverBucketName,
        string? provider,
        string? barInterval,
        int? lookbackSeconds,
        bool active)
    {
        var list = ParseTickers(tickers);
        var intervalSeconds = interval ?? 3600;
        if (intervalSeconds is < MinIntervalSeconds or > MaxIntervalSeconds)
        {
            throw new JobConfigException(jobName, "interval", intervalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), $"must be {IntervalRule}");
        }

        var bar = string.IsNullOrWhiteSpace(barInterval) ? "1h" : barInterval.Trim();
        TimeSpan barSize;
        try
        {
            barSize = ParseBarInterval(bar);
        }
        catch (FormatException)
        {
            throw new JobConfigException(jobName, "bar_interval", bar, $"is not one of {BarIntervals}");
        }

        var overlapSeconds = overlap ?? (int)(3 * barSize.TotalSeconds);
        if (overlapSeconds < barSize.TotalSeconds || overlapSeconds > MaxOverlapSeconds)
        {
            // The seed's 180 s re-fetched no hourly bar at all: an overlap shorter than one bar is a silent no-op.
            throw new JobConfigException(jobName, "overlap", overlapSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), $"must be between one bar ({barSize.TotalSeconds:0} s for {bar}) and 2592000 seconds; the default re-fetches 3 bars");
        }

        var lookback = lookbackSeconds ?? 7 * 86400;
        if (lookback is < 1 or > MaxLookbackSeconds)
        {
            throw new JobConfigException(jobName, "lookback_seconds", lookback.ToString(System.Globalization.CultureInfo.InvariantCulture), $"must be {LookbackRule}");
        }

        ValidateBucket(jobName, "bucket_name", bucketName);
        var silver = string.IsNullOrWhiteSpace(silverBucketName) ? bucketName : silverBucketName;
        ValidateBucket(jobName, "silver_bucket_name", silver);
        // No default (migration 0007 dropped the column's): a blank provider must not quietly become synthetic data
        // in the job's real buckets, and a typo must be a broken row fp jobs and fp publish report, not a dead letter.
        var prov = provider?.Trim().ToLowerInvariant() ?? string.Empty;
        if (!ProviderNames.All.Contains(prov, StringComparer.Ordinal))
        {
            throw new JobConfigException(jobName, "provider", provider ?? string.Empty, $"{(prov.Length == 0 ? "is required" : "is not a provider")}: one of {string.Join(", ", ProviderNames.All)}");
        }

        return new JobConfig
        {
            JobName = jobName,
            Tickers = list.Count == 0 ? throw new JobConfigException(jobName, "tickers", tickers, "must list at least one ticker") : list,
            IntervalSeconds = intervalSeconds,
            OverlapSeconds = overlapSeconds,
            BucketName = bucketName,
            SilverBucketName = silver,
            Provider = prov,
            BarInterval = bar,
            LookbackSeconds = lookback,
            Active = active,
        };

        List<string> ParseTickers(string raw)
        {
            var result = new List<string>();
            foreach (var part in (raw ?? string.Empty).Split([',', ' ', ';', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries))
            {
                var t = part.Trim().ToUpperInvariant();
                if (!TickerPattern().IsMatch(t))
                {
                    throw new JobConfigException(jobName, "tickers", part, "each ticker must be 1-20 of A-Z 0-9 . ^ = -, at least one of them a letter or digit");
                }

                if (!result.Contains(t, StringComparer.Ordinal))
                {
                    result.Add(t);
                }
            }

            return result;
        }
    }

    /// <summary>
    /// 1-20 of <c>A-Z 0-9 . ^ = -</c>, at least one a letter or digit: a ticker is a URL path segment to a provider, and
    /// <c>..</c> or <c>.</c> there is a dot-segment (Yahoo's request for <c>..</c> went to <c>/v8/finance/?…</c>).
    /// </summary>
    public static bool IsValidTicker(string ticker) => TickerPattern().IsMatch(ticker);

    /// <summary><see cref="IsValidTicker"/>'s rule in words, for the errors that refuse a ticker.</summary>
    public const string TickerRule = "1-20 of A-Z 0-9 . ^ = -, at least one a letter or digit";

    /// <summary>The bar intervals <see cref="ParseBarInterval"/> accepts: the provider intervals with a fixed length.</summary>
    public const string BarIntervals = "1m 2m 5m 15m 30m 60m 90m 1h 1d";

    /// <summary>Accepts <see cref="BarIntervals"/>.</summary>
    public static TimeSpan ParseBarInterval(string value) => value switch
    {
        "1m" => TimeSpan.FromMinutes(1),
        "2m" => TimeSpan.FromMinutes(2),
        "5m" => TimeSpan.FromMinutes(5),
        "15m" => TimeSpan.FromMinutes(15),
        "30m" => TimeSpan.FromMinutes(30),
        "60m" or "1h" => TimeSpan.FromHours(1),
        "90m" => TimeSpan.FromMinutes(90),
        "1d" => TimeSpan.FromDays(1),
        _ => throw new FormatException($"'{value}' is not one of {BarIntervals}"),
    };

    private static void ValidateBucket(string jobName, string column, string bucket)
    {
        if (Storage.BucketNames.Problem(bucket) is { } problem)
        {
            throw new JobConfigException(jobName, column, bucket ?? string.Empty, problem);
        }
    }

    [GeneratedRegex(@"^(?=[^A-Z0-9]*[A-Z0-9])[A-Z0-9.^=\-]{1,20}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TickerPattern();
}

/// <summary>A config row that cannot be used; names the job, the column and the value.</summary>
public sealed class JobConfigException : Exception
{
    public JobConfigException(string jobName, string column, string value, string reason)
        : base($"job '{jobName}': {column}='{value}' {reason}")
    {
        JobName = jobName;
        Column = column;
        Value = value;
        Reason = reason;
    }

    public JobConfigException()
    {
        JobName = string.Empty;
        Column = string.Empty;
    }

    public JobConfigException(string message)
        : base(message)
    {
        JobName = string.Empty;
        Column = string.Empty;
    }

    public JobConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        JobName = string.Empty;
        Column = string.Empty;
    }

    public string JobName { get; }

    public string Column { get; }

    /// <summary>The offending value as the rule saw it (empty for the message-only constructors).</summary>
    public string Value { get; } = string.Empty;

    /// <summary>The rule it breaks, e.g. "must list at least one ticker" (empty for the message-only constructors).</summary>
    public string Reason { get; } = string.Empty;
}
