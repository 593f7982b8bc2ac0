namespace FinancialPipeline.Core.Market;

/// <summary>One OHLCV bar as the provider reported it. <see cref="Timestamp"/> is the bar's start, UTC.</summary>
/// <param name="Currency">
/// The unit of the prices as the provider names it (Yahoo's <c>meta.currency</c>: a currency code, e.g. USD, JPY, USDT, or GBp for
/// pence), null when the provider does not say (and in silver written before the column existed).
/// </param>
/// <param name="ExchangeTimezone">The listing exchange's IANA time zone (Yahoo's <c>meta.exchangeTimezoneName</c>), or null.</param>
public readonly record struct QuoteBar(
    DateTimeOffset Timestamp,
    string Ticker,
    double Open,
    double High,
    double Low,
    double Close,
    double? AdjClose,
    long Volume,
    string? Currency = null,
    string? ExchangeTimezone = null);

/// <summary>
/// What a provider returned for one ticker and window. A failure (<see cref="Error"/> set) is <see cref="Transient"/>
/// when asking again later may succeed (a rate limit, a server error, a timeout, a network error; see
/// <see cref="UnexpectedFailure"/>), and permanent otherwise (an unknown or delisted symbol, a request the provider
/// refuses, a response that breaks the format, a ticker that is not one, an unexpected exception that is not I/O): Extract fails the stage, to be retried, on a transient one, and writes
/// the other tickers without the permanently failed one.
/// </summary>
public sealed record TickerQuotes(string Ticker, IReadOnlyList<QuoteBar> Bars, int DroppedBars = 0, string? Error = null, bool Transient = false)
{
    public bool Failed => Error is not null;

    /// <summary>
    /// The part of <see cref="DroppedBars"/> that repeated an earlier bar's timestamp (the later bar was kept); the rest,
    /// <see cref="NullBars"/>, were placeholders with a null OHLCV value.
    /// </summary>
    public int DuplicateBars { get; init; }

    /// <summary>Dropped bars that had a null OHLCV value (<see cref="DroppedBars"/> minus <see cref="DuplicateBars"/>).</summary>
    public int NullBars => DroppedBars - DuplicateBars;

    /// <summary>
    /// The stock splits the provider reported with the bars, ascending by date. A provider whose prices are
    /// split-adjusted as of the request (Yahoo's chart) restates every earlier bar when one takes effect, so bars stored
    /// before it are on the old basis: Extract re-fetches the ticker's history then (see <c>ExtractWork</c>).
    /// </summary>
    public IReadOnlyList<StockSplit> Splits { get; init; } = [];

    /// <summary>Failed, and a later attempt at the same window may succeed.</summary>
    public bool FailedTransiently => Failed && Transient;

    /// <summary>A failure that retrying the same request later may cure.</summary>
    public static TickerQuotes TransientFailure(string ticker, string error) => new(ticker, [], 0, error, Transient: true);

    /// <summary>A failure that retrying the same request would meet again.</summary>
    public static TickerQuotes PermanentFailure(string ticker, string error) => new(ticker, [], 0, error);

    /// <summary>
    /// A ticker's fetch that threw <paramref name="exception"/> instead of reporting its problem: transient when it is
    /// I/O (a network error or timeout the provider did not handle), which a later attempt may not meet; anything else
    /// (a bug, a response breaking an assumption) would fail the same way on every retry, and as transient it would
    /// hold the job's every ticker back each hour: permanent, so the others are written and this one is reported.
    /// </summary>
    public static TickerQuotes UnexpectedFailure(string ticker, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var error = $"unexpected {exception.GetType().Name}: {exception.Message}";
        return exception is HttpRequestException or IOException or TimeoutException
            ? TransientFailure(ticker, error)
            : PermanentFailure(ticker, error);
    }
}

/// <summary>
/// A stock split as the provider reported it: from <see cref="Date"/> on (the first bar on the new basis), one share
/// became <see cref="Numerator"/> / <see cref="Denominator"/> shares (AAPL's 4:1 of 2020-08-31: numerator 4,
/// denominator 1), so the prices before it divide by <see cref="Factor"/>.
/// </summary>
public readonly record struct StockSplit(DateTimeOffset Date, double Numerator, double Denominator)
{
    /// <summary>New shares per old share: what a price before the split is divided by.</summary>
    public double Factor => Numerator / Denominator;

    /// <summary>"4:1".</summary>
    public string Ratio => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Numerator:0.######}:{Denominator:0.######}");
}

/// <summary>A market-data source. Implementations are chosen by the job config's <c>provider</c> column.</summary>
public interface IQuoteProvider
{
    /// <summary>The config value that selects this provider.</summary>
    string Name { get; }

    /// <summary>Bars whose start lies in <paramref name="window"/>; a per-ticker problem is reported in the result, not thrown.</summary>
    Task<TickerQuotes> FetchAsync(string ticker, Contracts.TimeWindow window, TimeSpan barSize, CancellationToken cancellationToken);

    /// <summary>How far back from now the provider serves <paramref name="barSize"/> bars; null when it has no limit.</summary>
    TimeSpan? MaxLookback(TimeSpan barSize) => null;

    /// <summary>The longest window one request should cover for <paramref name="barSize"/> bars; null when any window fits.</summary>
    TimeSpan? MaxRequestSpan(TimeSpan barSize) => null;
}

/// <summary>Choosing the provider a job's <c>provider</c> column names.</summary>
public static class QuoteProviders
{
    /// <exception cref="Jobs.JobConfigException">No registered provider has that name.</exception>
    public static IQuoteProvider For(IEnumerable<IQuoteProvider> providers, Jobs.JobConfig job)
    {
        ArgumentNullException.ThrowIfNull(providers);
        ArgumentNullException.ThrowIfNull(job);
        return providers.FirstOrDefault(p => p.Name == job.Provider)
            ?? throw new Jobs.JobConfigException(job.JobName, "provider", job.Provider, $"is not one of: {string.Join(", ", providers.Select(p => p.Name))}");
    }
}
