using System.Diagnostics;
using System.Globalization;
using System.Net;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Providers.Yahoo;

/// <summary>
/// Hourly (or other) bars from Yahoo's unofficial chart API v8. Every request of one instance (or of one DI
/// registration, which shares a <see cref="YahooRequestThrottle"/>) goes through one rate limit and one
/// concurrency bound. 429, 5xx, timeouts and network errors are retried with exponential backoff that honours
/// Retry-After; what still fails, and unknown symbols (404), come back as <see cref="TickerQuotes.Error"/>, marked
/// <see cref="TickerQuotes.Transient"/> when a later retry may succeed (429, 408, 5xx, timeouts and network errors after
/// the last attempt or a Retry-After longer than allowed; an unexpected I/O exception) and permanent otherwise (404, any
/// other status, a malformed response, a ticker that is not one, any other unexpected exception).
/// </summary>
public sealed partial class YahooChartProvider : IQuoteProvider, IDisposable
{
    public const string ProviderName = Core.Jobs.ProviderNames.Yahoo;

    private readonly HttpClient _http;
    private readonly YahooOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly bool _ownsThrottle;

    /// <summary>The DI constructor: the throttle is the registration's singleton.</summary>
    [ActivatorUtilitiesConstructor]
    public YahooChartProvider(HttpClient http, IOptions<YahooOptions> options, YahooRequestThrottle throttle, TimeProvider timeProvider, ILogger<YahooChartProvider> logger)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(throttle);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        options.Value.EnsureValid();
        _http = http;
        _options = options.Value;
        Throttle = throttle;
        _time = timeProvider;
        _logger = logger;
    }

    /// <summary>A stand-alone provider with its own throttle, disposed with it.</summary>
    public YahooChartProvider(HttpClient http, YahooOptions options, TimeProvider? timeProvider = null, ILogger<YahooChartProvider>? logger = null)
        : this(http, Options.Create(options), new YahooRequestThrottle(options), timeProvider ?? TimeProvider.System, logger ?? NullLogger<YahooChartProvider>.Instance)
    {
        _ownsThrottle = true;
    }

    public string Name => ProviderName;

    /// <inheritdoc/>
    public TimeSpan? MaxLookback(TimeSpan barSize) => YahooLimits.MaxLookback(barSize);

    /// <inheritdoc/>
    public TimeSpan? MaxRequestSpan(TimeSpan barSize) => YahooLimits.MaxRequestSpan(barSize);

    internal YahooRequestThrottle Throttle { get; }

    public async Task<TickerQuotes> FetchAsync(string ticker, TimeWindow window, TimeSpan barSize, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ticker);
        var chunks = YahooLimits.Chunk(window, barSize, _time);
        return await FetchChunksAsync(ticker, chunks, YahooLimits.Interval(barSize), cancellationToken);
    }

    /// <summary>
    /// One result per entry of <paramref name="tickers"/>, in order. A ticker's failure is in its result and never
    /// affects the others; deciding that "all failed" means a failed stage is the caller's business.
    /// </summary>
    /// <exception cref="ArgumentException">The window or bar size is one Yahoo cannot serve (checked once, before any request).</exception>
    public async Task<IReadOnlyList<TickerQuotes>> FetchManyAsync(IReadOnlyList<string> tickers, TimeWindow window, TimeSpan barSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tickers);
        var chunks = YahooLimits.Chunk(window, barSize, _time);
        var interval = YahooLimits.Interval(barSize);
        var fetches = tickers.Select(ticker => FetchIsolatedAsync(ticker, chunks, interval, cancellationToken)).ToArray();
        return await Task.WhenAll(fetches);
    }

    public void Dispose()
    {
        if (_ownsThrottle)
        {
            Throttle.Dispose();
        }
    }

    /// <summary>The request URL for one ticker and request window.</summary>
    /// <exception cref="ArgumentException"><paramref name="ticker"/> is not a ticker (a dot-segment such as <c>..</c> would send the request to another endpoint).</exception>
    internal Uri RequestUri(string ticker, TimeWindow chunk, string interval)
    {
        if (NotATicker(ticker) is { } problem)
        {
            throw new ArgumentException(problem, nameof(ticker));
        }

        var baseUrl = _options.BaseUrl.AbsoluteUri.TrimEnd('/');
        var query = string.Create(
            CultureInfo.InvariantCulture,
            $"period1={chunk.Start.ToUnixTimeSeconds()}&period2={chunk.End.ToUnixTimeSeconds()}&interval={interval}&includePrePost=false&events=div%7Csplit");
        var path = $"/v8/finance/chart/{Uri.EscapeDataString(ticker)}";
        var uri = new Uri($"{baseUrl}{path}?{query}");
        if (!uri.AbsolutePath.EndsWith(path, StringComparison.Ordinal))
        {
            // Uri normalises dot-segments and some escapes: whatever it changed, the request would not be the chart's.
            throw new ArgumentException($"'{ticker}' does not make a chart request path ({uri.AbsolutePath})", nameof(ticker));
        }

        return uri;
    }

    /// <summary>Why <paramref name="ticker"/> cannot be requested (the job config's ticker rule), or null.</summary>
    private static string? NotATicker(string? ticker) => ticker is not null && Core.Jobs.JobConfig.IsValidTicker(ticker)
        ? null
        : $"'{ticker}' is not a ticker: {Core.Jobs.JobConfig.TickerRule}";

    private async Task<TickerQuotes> FetchIsolatedAsync(string ticker, IReadOnlyList<TimeWindow> chunks, string interval, CancellationToken cancellationToken)
    {
        try
        {
            return await FetchChunksAsync(ticker, chunks, interval, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Defensive: one ticker's unexpected failure must not take down its siblings (see UnexpectedFailure for
            // which ones a retry of the window may cure).
            LogUnexpected(ex, ticker);
            return TickerQuotes.UnexpectedFailure(ticker ?? string.Empty, ex);
        }
    }

    private async Task<TickerQuotes> FetchChunksAsync(string ticker, IReadOnlyList<TimeWindow> chunks, string interval, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ticker);
        if (NotATicker(ticker) is { } problem)
        {
            // Checked before any request: ".." or "." in the path would reach another endpoint of the API.
            return TickerQuotes.PermanentFailure(ticker, problem);
        }

        var bars = new List<QuoteBar>();
        var splits = new List<StockSplit>();
        int dropped = 0, duplicates = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            var result = await FetchChunkAsync(ticker, chunks[i], interval, cancellationToken);
            if (result.Failed)
            {
                // All or nothing per ticker: a partial series would look complete downstream.
                var where = chunks.Count > 1 ? $" (request {i + 1} of {chunks.Count}, {chunks[i]})" : string.Empty;
                // No rows of it are written, so none of its dropped rows are counted as the stage's rejects either.
                return result with { Bars = [], DroppedBars = 0, DuplicateBars = 0, Error = result.Error + where };
            }

            bars.AddRange(result.Bars);
            splits.AddRange(result.Splits);
            dropped += result.DroppedBars;
            duplicates += result.DuplicateBars;
        }

        // A split on a request's boundary may be reported by both requests.
        return new TickerQuotes(ticker, bars, dropped) { DuplicateBars = duplicates, Splits = [.. splits.DistinctBy(s => s.Date).OrderBy(s => s.Date)] };
    }

    private async Task<TickerQuotes> FetchChunkAsync(string ticker, TimeWindow chunk, string interval, CancellationToken cancellationToken)
    {
        var uri = RequestUri(ticker, chunk, interval);
        for (var attempt = 1; ; attempt++)
        {
            var answer = await SendOnceAsync(uri, cancellationToken);
            if (answer.Status == HttpStatusCode.OK)
            {
                return Parse(ticker, chunk, interval, answer.Body);
            }

            if (answer.Status == HttpStatusCode.NotFound)
            {
                var reason = YahooChartParser.TryReadError(answer.Body) ?? "HTTP 404";
                LogGaveUp(ticker, attempt, reason);
                return TickerQuotes.PermanentFailure(ticker, $"unknown or delisted: {ticker} ({reason})");
            }

            if (answer.Status == HttpStatusCode.BadRequest && YahooChartParser.IsNoDataForRange(answer.Body))
            {
                // Yahoo's answer for a request that lies wholly before the symbol's first trade (a backfill reaching
                // back past a listing): no bars, as for a weekend, not a failure that would discard the later requests.
                LogNoData(ticker, chunk.ToString());
                return new TickerQuotes(ticker, [], 0);
            }

            var problem = answer.Describe();
            if (!answer.Transient)
            {
                LogGaveUp(ticker, attempt, problem);
                return TickerQuotes.PermanentFailure(ticker, $"yahoo request failed: {problem}");
            }

            if (attempt >= _options.MaxAttempts)
            {
                LogGaveUp(ticker, attempt, problem);
                return TickerQuotes.TransientFailure(ticker, $"yahoo request failed after {attempt} attempt(s): {problem}");
            }

            var delay = answer.RetryAfter ?? YahooRetryPolicy.Backoff(attempt, _options.RetryBaseDelay, Random.Shared.NextDouble());
            if (delay > _options.MaxRetryDelay)
            {
                if (answer.RetryAfter is not null)
                {
                    LogGaveUp(ticker, attempt, problem);
                    return TickerQuotes.TransientFailure(ticker, $"yahoo request failed: {problem}; Retry-After {delay.TotalSeconds:0} s exceeds the {_options.MaxRetryDelay.TotalSeconds:0} s allowed");
                }

                delay = _options.MaxRetryDelay;
            }

            LogRetrying(ticker, attempt, problem, delay.TotalMilliseconds);
            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    private TickerQuotes Parse(string ticker, TimeWindow chunk, string interval, byte[] body)
    {
        try
        {
            var parsed = YahooChartParser.ParseDetailed(body, ticker, chunk, interval);
            LogFetched(ticker, chunk.ToString(), parsed.Quotes.Bars.Count, parsed.Quotes.NullBars, parsed.Quotes.DuplicateBars, parsed.OutsideWindow);
            foreach (var split in parsed.Quotes.Splits)
            {
                LogSplit(ticker, split.Ratio, split.Date.UtcDateTime);
            }

            return parsed.Quotes;
        }
        catch (YahooChartFormatException ex)
        {
            LogGaveUp(ticker, 1, ex.Message);
            return TickerQuotes.PermanentFailure(ticker, $"malformed yahoo response: {ex.Message}");
        }
    }

    /// <summary>One HTTP attempt: waits for the throttle, then sends with the attempt timeout.</summary>
    private async Task<Answer> SendOnceAsync(Uri uri, CancellationToken cancellationToken)
    {
        using var slot = await Throttle.EnterAsync(_time, cancellationToken);
        using var timeout = new CancellationTokenSource(_options.AttemptTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
            request.Headers.TryAddWithoutValidation("Accept", "application/json");
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var body = await response.Content.ReadAsByteArrayAsync(linked.Token);
            var retryAfter = YahooRetryPolicy.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow());
            if (retryAfter is { } wait && YahooRetryPolicy.IsTransient(response.StatusCode))
            {
                // The server asked the client to wait: every ticker's requests wait (up to the longest retry delay
                // allowed), not only this one's retry. Set while this request still holds its slot, so no queued request
                // slips out before the pause is in place.
                Throttle.PauseFor(wait < _options.MaxRetryDelay ? wait : _options.MaxRetryDelay, _time);
            }

            return new Answer(
                response.StatusCode,
                body,
                YahooRetryPolicy.IsTransient(response.StatusCode),
                retryAfter,
                null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Our attempt timeout or the HttpClient's own Timeout.
            var elapsed = Stopwatch.GetElapsedTime(started);
            return Answer.Failure($"timed out after {elapsed.TotalSeconds:0.0} s");
        }
        catch (HttpRequestException ex)
        {
            return Answer.Failure($"request error: {ex.Message}");
        }
    }

    private sealed record Answer(HttpStatusCode Status, byte[] Body, bool Transient, TimeSpan? RetryAfter, string? Problem)
    {
        public static Answer Failure(string problem) => new(0, [], true, null, problem);

        public string Describe()
        {
            if (Problem is not null)
            {
                return Problem;
            }

            var detail = YahooChartParser.TryReadError(Body);
            return detail is null
                ? string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)Status} {Status}")
                : string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)Status} {Status}: {detail}");
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "yahoo {Ticker} {Window}: {Bars} bar(s), dropped {NullBars} with a null value and {Duplicates} replaced by a later bar of the same timestamp, {OutsideWindow} outside the window")]
    private partial void LogFetched(string ticker, string window, int bars, int nullBars, int duplicates, int outsideWindow);

    [LoggerMessage(Level = LogLevel.Information, Message = "yahoo {Ticker}: reports a {Ratio} split effective {SplitDate:yyyy-MM-ddTHH:mm:ssZ}")]
    private partial void LogSplit(string ticker, string ratio, DateTime splitDate);

    [LoggerMessage(Level = LogLevel.Information, Message = "yahoo {Ticker}: attempt {Attempt} failed ({Problem}); retrying in {DelayMs:F0} ms")]
    private partial void LogRetrying(string ticker, int attempt, string problem, double delayMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "yahoo {Ticker} {Window}: no data for the range (it precedes the symbol's first trade): no bars")]
    private partial void LogNoData(string ticker, string window);

    [LoggerMessage(Level = LogLevel.Warning, Message = "yahoo {Ticker}: giving up after attempt {Attempt}: {Problem}")]
    private partial void LogGaveUp(string ticker, int attempt, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "yahoo {Ticker}: unexpected failure")]
    private partial void LogUnexpected(Exception exception, string ticker);
}
