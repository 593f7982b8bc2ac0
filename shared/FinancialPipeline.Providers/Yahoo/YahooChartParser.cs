using System.Text.Json;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;

namespace FinancialPipeline.Providers.Yahoo;

/// <summary>What one chart response held, with the reasons bars were left out.</summary>
/// <param name="Quotes">
/// The bars kept, each with the response's <c>meta.currency</c> and <c>meta.exchangeTimezoneName</c>;
/// <see cref="TickerQuotes.DroppedBars"/> counts the in-window bars left out: <see cref="TickerQuotes.NullBars"/> with a null
/// OHLCV value and <see cref="TickerQuotes.DuplicateBars"/> replaced by a later bar of the same timestamp.
/// </param>
/// <param name="OutsideWindow">Bars before the window start or at/after its end (e.g. the live bar Yahoo appends after period2).</param>
/// <param name="Duplicates">Bars whose timestamp repeated an earlier one; the later bar wins (also <see cref="TickerQuotes.DuplicateBars"/>).</param>
/// <param name="Symbol">The response's <c>meta.symbol</c>, if any.</param>
/// <remarks><see cref="TickerQuotes.Splits"/> holds the response's <c>events.splits</c>, whatever their date: Yahoo reports the splits of the requested range.</remarks>
public sealed record YahooChartParseResult(TickerQuotes Quotes, int OutsideWindow, int Duplicates, string? Symbol);

/// <summary>
/// Reads Yahoo's <c>/v8/finance/chart</c> response. Quirks handled: null OHLCV entries, no <c>timestamp</c>
/// key with <c>quote:[{}]</c>, <c>result:[]</c>, absent <c>adjclose</c>, bars outside the requested window,
/// volume written as a float. A <c>chart.error</c> or a response for another symbol becomes a per-ticker
/// error; arrays whose lengths disagree with <c>timestamp</c> raise <see cref="YahooChartFormatException"/>, as does an
/// <c>events.splits</c> entry without a valid <c>date</c>, <c>numerator</c> or <c>denominator</c>, a <c>meta.dataGranularity</c>
/// other than the interval requested, a <c>meta.currency</c> that is not a currency code (3–5 letters or digits), or a <c>meta.exchangeTimezoneName</c>
/// that is not a time zone name (the field is named).
/// </summary>
public static class YahooChartParser
{
    /// <summary>The Unix seconds a <see cref="DateTimeOffset"/> can hold (0001-01-01 to 9999-12-31).</summary>
    private const long MinUnixSeconds = -62_135_596_800;

    private const long MaxUnixSeconds = 253_402_300_799;

    private static readonly string[] QuoteArrays = ["open", "high", "low", "close", "volume"];

    public static TickerQuotes Parse(ReadOnlySpan<byte> json, string ticker, TimeWindow window, string? interval = null) =>
        ParseDetailed(json, ticker, window, interval).Quotes;

    public static TickerQuotes Parse(Stream json, string ticker, TimeWindow window, string? interval = null) =>
        ParseDetailed(json, ticker, window, interval).Quotes;

    /// <param name="interval">The <c>interval</c> requested ("1h"); the response's <c>meta.dataGranularity</c> must match it. Null: not checked.</param>
    public static YahooChartParseResult ParseDetailed(ReadOnlySpan<byte> json, string ticker, TimeWindow window, string? interval = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ticker);
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(json);
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            throw new YahooChartFormatException($"chart response for {ticker} is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            return Read(document.RootElement, ticker, window, interval);
        }
    }

    /// <param name="interval">The <c>interval</c> requested ("1h"); the response's <c>meta.dataGranularity</c> must match it. Null: not checked.</param>
    public static YahooChartParseResult ParseDetailed(Stream json, string ticker, TimeWindow window, string? interval = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentException.ThrowIfNullOrWhiteSpace(ticker);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new YahooChartFormatException($"chart response for {ticker} is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            return Read(document.RootElement, ticker, window, interval);
        }
    }

    /// <summary>The <c>chart.error</c> of a body as "code: description", or null if the body has none.</summary>
    internal static string? TryReadError(ReadOnlySpan<byte> json) => WithError(json, DescribeError);

    private static YahooChartParseResult Read(JsonElement root, string ticker, TimeWindow window, string? interval)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("chart", out var chart) || chart.ValueKind != JsonValueKind.Object)
        {
            throw new YahooChartFormatException($"chart response for {ticker} has no 'chart' object");
        }

        if (chart.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null)
        {
            return Failure(ticker, ErrorMessage(ticker, error));
        }

        if (!chart.TryGetProperty("result", out var results) || results.ValueKind != JsonValueKind.Array)
        {
            throw new YahooChartFormatException($"chart response for {ticker} has neither 'chart.result' nor 'chart.error'");
        }

        if (results.GetArrayLength() == 0)
        {
            return Empty(ticker, symbol: null);
        }

        var result = results[0];
        var symbol = ReadSymbol(result);
        if (symbol is not null && !string.Equals(symbol, ticker, StringComparison.OrdinalIgnoreCase))
        {
            return Failure(ticker, $"response is for symbol '{symbol}' but '{ticker}' was requested", symbol);
        }

        var meta = ReadMeta(result, ticker, interval);
        var parsed = ReadBars(result, ticker, window, symbol, meta);
        var splits = ReadSplits(result, ticker);
        return splits.Count == 0 ? parsed : parsed with { Quotes = parsed.Quotes with { Splits = splits } };
    }

    /// <summary>
    /// <c>events.splits</c>: an object of entries keyed by their date, each <c>{date, numerator, denominator, splitRatio}</c>
    /// (<c>splitRatio</c>, "4:1", is redundant and not read), ascending by date; empty when the response has none.
    /// </summary>
    private static List<StockSplit> ReadSplits(JsonElement result, string ticker)
    {
        if (!result.TryGetProperty("events", out var events) || events.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (events.ValueKind != JsonValueKind.Object)
        {
            throw new YahooChartFormatException($"chart response for {ticker}: events should be an object but is {events.ValueKind}");
        }

        if (!events.TryGetProperty("splits", out var splits) || splits.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (splits.ValueKind != JsonValueKind.Object)
        {
            throw new YahooChartFormatException($"chart response for {ticker}: events.splits should be an object but is {splits.ValueKind}");
        }

        var list = new List<StockSplit>();
        foreach (var entry in splits.EnumerateObject())
        {
            var where = $"chart response for {ticker}: events.splits[\"{PayloadText.Printable(entry.Name, 40, keepLineBreaks: false)}\"]";
            if (entry.Value.ValueKind != JsonValueKind.Object)
            {
                throw new YahooChartFormatException($"{where} should be an object but is {entry.Value.ValueKind}");
            }

            var date = entry.Value.TryGetProperty("date", out var d) && d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var seconds)
                && seconds is >= MinUnixSeconds and <= MaxUnixSeconds
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : throw new YahooChartFormatException($"{where}.date is not a time in Unix seconds ({Raw(entry.Value, "date")})");
            var numerator = SplitTerm(entry.Value, "numerator", where);
            var denominator = SplitTerm(entry.Value, "denominator", where);
            list.Add(new StockSplit(date, numerator, denominator));
        }

        return [.. list.DistinctBy(s => s.Date).OrderBy(s => s.Date)];

        static double SplitTerm(JsonElement split, string name, string where) =>
            split.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.GetDouble() is var number
            && double.IsFinite(number) && number > 0
                ? number
                : throw new YahooChartFormatException($"{where}.{name} is not a positive number ({Raw(split, name)})");

        static string Raw(JsonElement split, string name) =>
            split.TryGetProperty(name, out var value) ? PayloadText.Printable(value.GetRawText(), 40, keepLineBreaks: false) : "missing";
    }

    private static YahooChartParseResult ReadBars(JsonElement result, string ticker, TimeWindow window, string? symbol, ResponseMeta meta)
    {
        var timestamps = OptionalArray(result, "timestamp");
        var count = timestamps?.GetArrayLength() ?? 0;
        var quote = FirstObject(result, "quote");
        var columns = new JsonElement[QuoteArrays.Length];
        for (var c = 0; c < QuoteArrays.Length; c++)
        {
            var column = quote is { } q ? OptionalArray(q, QuoteArrays[c]) : null;
            var length = column?.GetArrayLength() ?? 0;
            if (length != count)
            {
                throw LengthMismatch(ticker, $"indicators.quote[0].{QuoteArrays[c]}", column is null ? "missing" : length.ToString(System.Globalization.CultureInfo.InvariantCulture), count);
            }

            columns[c] = column ?? default;
        }

        JsonElement? adjClose = FirstObject(result, "adjclose") is { } adj ? OptionalArray(adj, "adjclose") : null;
        if (adjClose is { } a && a.GetArrayLength() != count)
        {
            throw LengthMismatch(ticker, "indicators.adjclose[0].adjclose", a.GetArrayLength().ToString(System.Globalization.CultureInfo.InvariantCulture), count);
        }

        if (count == 0)
        {
            return Empty(ticker, symbol);
        }

        var bars = new SortedDictionary<long, QuoteBar>();
        int nullBars = 0, outside = 0, duplicates = 0;
        for (var i = 0; i < count; i++)
        {
            var seconds = Timestamp(timestamps!.Value[i], ticker, i);
            var start = DateTimeOffset.FromUnixTimeSeconds(seconds);
            if (!window.Contains(start))
            {
                outside++;
                continue;
            }

            if (columns.Any(column => column[i].ValueKind == JsonValueKind.Null))
            {
                nullBars++;
                continue;
            }

            var bar = new QuoteBar(
                start,
                ticker,
                Price(columns[0][i], ticker, "open", i),
                Price(columns[1][i], ticker, "high", i),
                Price(columns[2][i], ticker, "low", i),
                Price(columns[3][i], ticker, "close", i),
                adjClose is { } adjValues && adjValues[i].ValueKind != JsonValueKind.Null ? Price(adjValues[i], ticker, "adjclose", i) : null,
                Volume(columns[4][i], ticker, i),
                meta.Currency,
                meta.ExchangeTimezone);
            if (!bars.TryAdd(seconds, bar))
            {
                duplicates++;
                bars[seconds] = bar;
            }
        }

        // A repeated timestamp keeps its later bar (Yahoo's restatement); the replaced one is dropped like a null bar and
        // counted in DroppedBars with it, so Extract's records.in (written + dropped) covers every row the response held in
        // the window; DuplicateBars keeps the two reasons apart.
        var quotes = new TickerQuotes(ticker, [.. bars.Values], nullBars + duplicates) { DuplicateBars = duplicates };
        return new YahooChartParseResult(quotes, outside, duplicates, symbol);
    }

    /// <summary>What <c>meta</c> says about every bar of the response.</summary>
    private readonly record struct ResponseMeta(string? Currency, string? ExchangeTimezone);

    /// <summary>
    /// Checks <c>meta.dataGranularity</c> against <paramref name="interval"/> and reads <c>meta.currency</c> and
    /// <c>meta.exchangeTimezoneName</c>. An absent (or null) field is accepted: the granularity is then taken to be the one
    /// requested (the response carries nothing to check it with), and the currency or time zone is unknown (null).
    /// </summary>
    private static ResponseMeta ReadMeta(JsonElement result, string ticker, string? interval)
    {
        if (!result.TryGetProperty("meta", out var meta) || meta.ValueKind == JsonValueKind.Null)
        {
            return default;
        }

        if (meta.ValueKind != JsonValueKind.Object)
        {
            throw new YahooChartFormatException($"chart response for {ticker}: meta should be an object but is {meta.ValueKind}");
        }

        var granularity = MetaText(meta, "dataGranularity", ticker);
        if (interval is not null && granularity is not null && !SameInterval(granularity, interval))
        {
            throw new YahooChartFormatException(
                $"chart response for {ticker}: meta.dataGranularity is '{PayloadText.Printable(granularity, 40, keepLineBreaks: false)}' but interval '{interval}' was requested");
        }

        var currency = MetaText(meta, "currency", ticker);
        if (currency is not null && !IsCurrencyCode(currency))
        {
            throw new YahooChartFormatException(
                $"chart response for {ticker}: meta.currency '{PayloadText.Printable(currency, 40, keepLineBreaks: false)}' is not a currency code (3 to 5 letters or digits, e.g. USD, GBp, USDT)");
        }

        var zone = MetaText(meta, "exchangeTimezoneName", ticker);
        if (zone is not null && !IsTimeZoneName(zone))
        {
            throw new YahooChartFormatException(
                $"chart response for {ticker}: meta.exchangeTimezoneName '{PayloadText.Printable(zone, 70, keepLineBreaks: false)}' is not a time zone name (e.g. America/New_York)");
        }

        return new ResponseMeta(currency, zone);
    }

    /// <summary><c>meta.{name}</c> as a string, null when absent or null; another JSON type is a format error naming it.</summary>
    private static string? MetaText(JsonElement meta, string name, string ticker)
    {
        if (!meta.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new YahooChartFormatException(
                $"chart response for {ticker}: meta.{name} should be a string but is {value.ValueKind} ({PayloadText.Printable(value.GetRawText(), 40, keepLineBreaks: false)})");
    }

    /// <summary>Yahoo writes an hour as "1h" or "60m": the same bars.</summary>
    private static bool SameInterval(string granularity, string interval)
    {
        static string Canonical(string value) => value == "60m" ? "1h" : value;
        return string.Equals(Canonical(granularity), Canonical(interval), StringComparison.Ordinal);
    }

    /// <summary>
    /// A currency code: ISO 4217's three letters, or up to five letters and digits for the units a quote can be in
    /// that ISO does not list (USDT, USDC), starting with a letter. Case is kept as Yahoo writes it: a lower-case
    /// letter names a minor unit (GBp is pence, ZAc cents), which is not the same price scale as GBP. Lenient on
    /// purpose: the value is stored, never computed with, and a failed check fails the ticker at every run.
    /// </summary>
    private static bool IsCurrencyCode(string value) =>
        value.Length is >= 3 and <= 5 && char.IsAsciiLetter(value[0]) && value.All(char.IsAsciiLetterOrDigit);

    /// <summary>An IANA zone name's shape: ASCII letters, digits, '_', '+', '-', in '/'-separated parts, at most 64 characters.</summary>
    private static bool IsTimeZoneName(string value) =>
        value.Length is > 0 and <= 64
        && char.IsAsciiLetter(value[0])
        && value.Split('/').All(part => part.Length > 0 && part.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '-'));

    private static string? ReadSymbol(JsonElement result) =>
        result.TryGetProperty("meta", out var meta) && meta.ValueKind == JsonValueKind.Object
        && meta.TryGetProperty("symbol", out var symbol) && symbol.ValueKind == JsonValueKind.String
            ? symbol.GetString()
            : null;

    /// <summary><c>indicators.{name}[0]</c>, or null when absent or empty.</summary>
    private static JsonElement? FirstObject(JsonElement result, string name) =>
        result.TryGetProperty("indicators", out var indicators) && indicators.ValueKind == JsonValueKind.Object
        && indicators.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array
        && list.GetArrayLength() > 0 && list[0].ValueKind == JsonValueKind.Object
            ? list[0]
            : null;

    private static JsonElement? OptionalArray(JsonElement parent, string name)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Array
            ? value
            : throw new YahooChartFormatException($"'{name}' should be an array but is {value.ValueKind}");
    }

    private static long Timestamp(JsonElement value, string ticker, int index) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var seconds)
            ? seconds is >= MinUnixSeconds and <= MaxUnixSeconds
                ? seconds
                : throw new YahooChartFormatException($"chart response for {ticker}: timestamp[{index}] = {seconds} is not a time in Unix seconds (milliseconds?)")
            : throw new YahooChartFormatException($"chart response for {ticker}: timestamp[{index}] is not an integer ({value.GetRawText()})");

    private static double Price(JsonElement value, string ticker, string name, int index) =>
        value.ValueKind == JsonValueKind.Number
            ? value.GetDouble()
            : throw new YahooChartFormatException($"chart response for {ticker}: {name}[{index}] is not a number ({value.GetRawText()})");

    private static long Volume(JsonElement value, string ticker, int index)
    {
        if (value.ValueKind == JsonValueKind.Number)
        {
            if (value.TryGetInt64(out var integer))
            {
                return integer;
            }

            // Yahoo sometimes writes large volumes in exponent form (1.2E7); accept any integral value.
            var number = value.GetDouble();
            if (Math.Floor(number) == number && number >= long.MinValue && number < long.MaxValue)
            {
                return (long)number;
            }
        }

        throw new YahooChartFormatException($"chart response for {ticker}: volume[{index}] is not an integral number ({value.GetRawText()})");
    }

    private static YahooChartFormatException LengthMismatch(string ticker, string array, string length, int timestamps) =>
        new($"chart response for {ticker} rejected: {array} has length {length} but timestamp has {timestamps} entries");

    private static string ErrorMessage(string ticker, JsonElement error)
    {
        var described = error.ValueKind == JsonValueKind.Object ? DescribeError(error) : error.GetRawText();
        var code = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        return string.Equals(code, "Not Found", StringComparison.OrdinalIgnoreCase)
            ? $"unknown or delisted: {ticker} ({described})"
            : $"yahoo error for {ticker}: {described}";
    }

    /// <summary>
    /// Whether <paramref name="json"/> is Yahoo's "Data doesn't exist for startDate = …, endDate = …" error, its answer (HTTP
    /// 400) for a range wholly before the symbol's first trade: no bars, where an unknown symbol gets 404 "Not Found".
    /// </summary>
    internal static bool IsNoDataForRange(ReadOnlySpan<byte> json) =>
        WithError(json, error => error.TryGetProperty("description", out var description)
            && description.ValueKind == JsonValueKind.String
            && description.GetString()!.StartsWith("Data doesn't exist for startDate", StringComparison.Ordinal));

    /// <summary><paramref name="read"/> of the body's <c>chart.error</c> object, or the default when the body has none (or is not JSON).</summary>
    private static T? WithError<T>(ReadOnlySpan<byte> json, Func<JsonElement, T> read)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("chart", out var chart)
                && chart.ValueKind == JsonValueKind.Object
                && chart.TryGetProperty("error", out var error)
                && error.ValueKind == JsonValueKind.Object
                ? read(error)
                : default;
        }
        catch (JsonException)
        {
            return default;
        }
    }

    private static string DescribeError(JsonElement error)
    {
        static string Text(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? string.Empty : string.Empty;

        var code = Text(error, "code");
        var description = Text(error, "description");
        return (code, description) switch
        {
            ("", "") => error.GetRawText(),
            (_, "") => code,
            ("", _) => description,
            _ => $"{code}: {description}",
        };
    }

    private static YahooChartParseResult Empty(string ticker, string? symbol) => new(new TickerQuotes(ticker, []), 0, 0, symbol);

    private static YahooChartParseResult Failure(string ticker, string error, string? symbol = null) =>
        new(new TickerQuotes(ticker, [], 0, error), 0, 0, symbol);
}
