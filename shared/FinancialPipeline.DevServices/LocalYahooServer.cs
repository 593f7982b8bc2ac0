using System.Globalization;
using System.Net;
using System.Text.Json;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using Microsoft.AspNetCore.Http;

namespace FinancialPipeline.DevServices;

public sealed record LocalYahooServerOptions
{
    /// <summary>Added before every answer, as a remote API's round trip.</summary>
    public TimeSpan Latency { get; init; } = TimeSpan.Zero;

    /// <summary>Requests accepted in any one-second window; more are answered 429 with Retry-After. Null: no limit.</summary>
    public int? RequestsPerSecond { get; init; }

    /// <summary>Symbols answered 404 with the chart API's "No data found, symbol may be delisted" body.</summary>
    public IReadOnlySet<string> UnknownSymbols { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Symbols answered 503 with <c>Retry-After: 0</c>, as an overloaded edge does: a transient failure, retried at once.</summary>
    public IReadOnlySet<string> UnavailableSymbols { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Stock splits by symbol, served as Yahoo serves them: the synthetic bars are the prices on the newest basis, a bar
    /// before a split that has not taken effect at <see cref="Clock"/>'s now is on the old one (prices times the split's
    /// factor, volume divided by it), and the splits that have taken effect and lie in [period1, period2) are reported in
    /// <c>events.splits</c>. So a request before a split's date gets old-basis bars and one after it gets every bar restated.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<StockSplit>> Splits { get; init; } = new Dictionary<string, IReadOnlyList<StockSplit>>(StringComparer.Ordinal);

    /// <summary><c>meta.currency</c> by symbol; USD for a symbol not listed.</summary>
    public IReadOnlyDictionary<string, string> Currencies { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Symbols whose answers start with an extra bar at the first bar's time: all values null, Yahoo's placeholder.</summary>
    public IReadOnlySet<string> NullBarSymbols { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Symbols whose answers send their first bar twice, the repeat with twice the volume (Yahoo's restatement).</summary>
    public IReadOnlySet<string> RepeatedBarSymbols { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>The "now" <see cref="Splits"/> take effect by (a test's fake clock); the system clock when null.</summary>
    public TimeProvider? Clock { get; init; }
}

/// <summary>
/// A local stand-in for Yahoo's chart API v8 (<c>GET /v8/finance/chart/{symbol}?period1&amp;period2&amp;interval</c>)
/// serving the synthetic provider's deterministic bars in the real response format, with the real quirks that
/// matter to a client: no <c>adjclose</c> for intraday bars, the live bar appended after period2, 404 with a
/// <c>chart.error</c> body for unknown symbols, and 429 + Retry-After above a rate limit (503 for symbols a test makes unavailable). Used by
/// <c>fp bench extract</c> and the integration tests (point <c>FP_YAHOO_BASE_URL</c> at it).
/// </summary>
public sealed class LocalYahooServer : IAsyncDisposable
{
    private const string ChartPrefix = "/v8/finance/chart/";

    private readonly LocalYahooServerOptions _options;
    private readonly SyntheticQuoteProvider _quotes = new();
    private readonly Queue<long> _accepted = new();
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private long _ok;
    private long _throttled;
    private long _notFound;
    private long _unavailable;
    private long _admitted;
    private long _firstAdmitted;
    private long _lastAdmitted;

    private LoopbackHttpServer _http = null!;

    private LocalYahooServer(LocalYahooServerOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    public Uri BaseUrl => _http.BaseAddress;

    public long Answered200 => Interlocked.Read(ref _ok);

    public long Answered429 => Interlocked.Read(ref _throttled);

    public long Answered404 => Interlocked.Read(ref _notFound);

    public long Answered503 => Interlocked.Read(ref _unavailable);

    /// <summary>Requests let through the rate limit (answered 200, 404, 503 or 400).</summary>
    public long Admitted => Interlocked.Read(ref _admitted);

    /// <summary>From the first admitted request to the last: what an achieved request rate is measured over.</summary>
    public TimeSpan AdmittedSpan
    {
        get
        {
            lock (_gate)
            {
                return _admitted < 2 ? TimeSpan.Zero : _time.GetElapsedTime(_firstAdmitted, _lastAdmitted);
            }
        }
    }

    public static async Task<LocalYahooServer> StartAsync(LocalYahooServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var server = new LocalYahooServer(options ?? new LocalYahooServerOptions(), TimeProvider.System);
        server._http = await LoopbackHttpServer.StartAsync(server.HandleAsync, cancellationToken);
        return server;
    }

    public ValueTask DisposeAsync() => _http.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? string.Empty;
        if (!path.StartsWith(ChartPrefix, StringComparison.Ordinal))
        {
            await WriteErrorAsync(context, HttpStatusCode.NotFound, "Not Found", "unknown path");
            return;
        }

        if (!TryAdmit())
        {
            Interlocked.Increment(ref _throttled);
            context.Response.Headers.RetryAfter = "1";
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            await context.Response.WriteAsync("Too Many Requests", context.RequestAborted);
            return;
        }

        await Task.Delay(_options.Latency, _time, context.RequestAborted);
        var symbol = Uri.UnescapeDataString(path[ChartPrefix.Length..]);
        if (_options.UnknownSymbols.Contains(symbol))
        {
            Interlocked.Increment(ref _notFound);
            await WriteErrorAsync(context, HttpStatusCode.NotFound, "Not Found", "No data found, symbol may be delisted");
            return;
        }

        if (_options.UnavailableSymbols.Contains(symbol))
        {
            Interlocked.Increment(ref _unavailable);
            context.Response.Headers.RetryAfter = "0";
            await WriteErrorAsync(context, HttpStatusCode.ServiceUnavailable, "Service Unavailable", "try again later");
            return;
        }

        if (!long.TryParse(context.Request.Query["period1"], CultureInfo.InvariantCulture, out var period1)
            || !long.TryParse(context.Request.Query["period2"], CultureInfo.InvariantCulture, out var period2)
            || context.Request.Query["interval"] != "1h" || period2 <= period1)
        {
            await WriteErrorAsync(context, HttpStatusCode.BadRequest, "Bad Request", "this local server serves interval=1h with period1 < period2");
            return;
        }

        var window = new TimeWindow(DateTimeOffset.FromUnixTimeSeconds(period1), DateTimeOffset.FromUnixTimeSeconds(period2));
        var bars = (await _quotes.FetchAsync(symbol, window, TimeSpan.FromHours(1), context.RequestAborted)).Bars.ToList();
        // Yahoo appends the live (incomplete) bar after period2 when the market is open; clients must drop it.
        var live = (await _quotes.FetchAsync(symbol, new TimeWindow(window.End, window.End.AddHours(1)), TimeSpan.FromHours(1), context.RequestAborted)).Bars;
        bars.AddRange(live);
        var now = (_options.Clock ?? TimeProvider.System).GetUtcNow();
        var splits = _options.Splits.TryGetValue(symbol, out var all) ? all : [];
        var pending = splits.Where(s => s.Date > now).ToList();
        if (pending.Count > 0)
        {
            bars = [.. bars.Select(b => OnBasisOf(b, pending))];
        }

        var reported = splits.Where(s => s.Date <= now && s.Date >= window.Start && s.Date < window.End).ToList();
        var nullAt = -1;
        if (bars.Count > 0 && _options.RepeatedBarSymbols.Contains(symbol))
        {
            bars.Insert(1, bars[0] with { Volume = bars[0].Volume * 2 });
        }

        if (bars.Count > 0 && _options.NullBarSymbols.Contains(symbol))
        {
            bars.Insert(0, bars[0]);
            nullAt = 0;
        }

        var currency = _options.Currencies.GetValueOrDefault(symbol, "USD");
        Interlocked.Increment(ref _ok);
        context.Response.ContentType = "application/json;charset=utf-8";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        WriteChart(json, symbol, currency, bars, nullAt, reported);
        await json.FlushAsync(context.RequestAborted);
    }

    /// <summary>A sliding one-second window of accepted requests, as a strict server-side limiter counts them.</summary>
    private bool TryAdmit()
    {
        var now = _time.GetTimestamp();
        var windowStart = now - _time.TimestampFrequency;
        lock (_gate)
        {
            if (_options.RequestsPerSecond is not { } limit)
            {
                Record(now);
                return true;
            }

            while (_accepted.Count > 0 && _accepted.Peek() <= windowStart)
            {
                _accepted.Dequeue();
            }

            if (_accepted.Count >= limit)
            {
                return false;
            }

            _accepted.Enqueue(now);
            Record(now);
            return true;
        }
    }

    private void Record(long now)
    {
        if (_admitted++ == 0)
        {
            _firstAdmitted = now;
        }

        _lastAdmitted = now;
    }

    /// <summary><paramref name="bar"/> as it was quoted before the <paramref name="pending"/> splits after it took effect.</summary>
    private static QuoteBar OnBasisOf(QuoteBar bar, List<StockSplit> pending)
    {
        var factor = pending.Where(s => bar.Timestamp < s.Date).Aggregate(1.0, (f, s) => f * s.Factor);
        return factor == 1.0
            ? bar
            : bar with
            {
                Open = Math.Round(bar.Open * factor, 4),
                High = Math.Round(bar.High * factor, 4),
                Low = Math.Round(bar.Low * factor, 4),
                Close = Math.Round(bar.Close * factor, 4),
                AdjClose = bar.AdjClose is { } adj ? Math.Round(adj * factor, 4) : null,
                Volume = (long)Math.Round(bar.Volume / factor),
            };
    }

    /// <param name="nullAt">The index of the bar whose values are all sent as null, or -1.</param>
    private static void WriteChart(Utf8JsonWriter json, string symbol, string currency, List<QuoteBar> bars, int nullAt, List<StockSplit> splits)
    {
        json.WriteStartObject();
        json.WriteStartObject("chart");
        json.WriteStartArray("result");
        json.WriteStartObject();
        json.WriteStartObject("meta");
        json.WriteString("currency", currency);
        json.WriteString("symbol", symbol);
        json.WriteString("exchangeName", "NMS");
        json.WriteString("instrumentType", "EQUITY");
        json.WriteNumber("gmtoffset", -18000);
        json.WriteString("timezone", "EST");
        json.WriteString("exchangeTimezoneName", "America/New_York");
        json.WriteString("dataGranularity", "1h");
        json.WriteEndObject();
        if (bars.Count > 0)
        {
            // Yahoo omits "timestamp" (and sends empty quote arrays) when the range holds no bar.
            json.WriteStartArray("timestamp");
            foreach (var bar in bars)
            {
                json.WriteNumberValue(bar.Timestamp.ToUnixTimeSeconds());
            }

            json.WriteEndArray();
        }

        json.WriteStartObject("indicators");
        json.WriteStartArray("quote");
        json.WriteStartObject();
        WriteSeries(json, "open", bars, nullAt, (j, b) => j.WriteNumberValue(b.Open));
        WriteSeries(json, "high", bars, nullAt, (j, b) => j.WriteNumberValue(b.High));
        WriteSeries(json, "low", bars, nullAt, (j, b) => j.WriteNumberValue(b.Low));
        WriteSeries(json, "close", bars, nullAt, (j, b) => j.WriteNumberValue(b.Close));
        WriteSeries(json, "volume", bars, nullAt, (j, b) => j.WriteNumberValue(b.Volume));
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        if (splits.Count > 0)
        {
            json.WriteStartObject("events");
            json.WriteStartObject("splits");
            foreach (var split in splits)
            {
                var seconds = split.Date.ToUnixTimeSeconds();
                json.WriteStartObject(seconds.ToString(CultureInfo.InvariantCulture));
                json.WriteNumber("date", seconds);
                json.WriteNumber("numerator", split.Numerator);
                json.WriteNumber("denominator", split.Denominator);
                json.WriteString("splitRatio", split.Ratio);
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteNull("error");
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteSeries(Utf8JsonWriter json, string name, List<QuoteBar> bars, int nullAt, Action<Utf8JsonWriter, QuoteBar> value)
    {
        json.WriteStartArray(name);
        for (var i = 0; i < bars.Count; i++)
        {
            if (i == nullAt)
            {
                json.WriteNullValue();
            }
            else
            {
                value(json, bars[i]);
            }
        }

        json.WriteEndArray();
    }

    private static async Task WriteErrorAsync(HttpContext context, HttpStatusCode status, string code, string description)
    {
        context.Response.StatusCode = (int)status;
        context.Response.ContentType = "application/json;charset=utf-8";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteStartObject("chart");
        json.WriteNull("result");
        json.WriteStartObject("error");
        json.WriteString("code", code);
        json.WriteString("description", description);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted);
    }
}
