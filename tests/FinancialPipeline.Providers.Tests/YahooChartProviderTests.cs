using System.Net;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Providers.Yahoo;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Providers.Tests;

public sealed class YahooChartProviderTests
{
    private static readonly TimeSpan Hourly = TimeSpan.FromHours(1);

    /// <summary>Now is fixed (so windows are too); delays and timeouts still run on real timers.</summary>
    private static readonly FixedClock Clock = new(Fixtures.At("2024-03-08T00:00:00Z"));

    /// <summary>Only so that a broken provider fails the test instead of hanging it; no test asserts a duration with it.</summary>
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Fetch_SendsBrowserUserAgentAndTheChartQuery()
    {
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        var request = Assert.Single(server.Requests);
        Assert.Equal("MSFT", request.Symbol);
        Assert.Equal(Fixtures.Monday.Start.ToUnixTimeSeconds(), request.Period1);
        Assert.Equal(Fixtures.Monday.End.ToUnixTimeSeconds(), request.Period2);
        Assert.Equal("1h", request.Query["interval"]);
        Assert.Equal("false", request.Query["includePrePost"]);
        Assert.Equal("div|split", request.Query["events"]);
        Assert.Contains("events=div%7Csplit", request.RawTarget, StringComparison.Ordinal);
        Assert.StartsWith("Mozilla/5.0 (", request.UserAgent, StringComparison.Ordinal);
        Assert.Null(quotes.Error);
        Assert.Equal(24, quotes.Bars.Count); // 00:30 … 23:30; the live bar after period2 is not among them
        Assert.All(quotes.Bars, bar => Assert.True(Fixtures.Monday.Contains(bar.Timestamp)));
    }

    [Theory]
    [InlineData("^GSPC", "%5EGSPC")]
    [InlineData("EURUSD=X", "EURUSD%3DX")]
    [InlineData("BRK-B", "BRK-B")]
    public async Task Fetch_PathEncodesTheSymbol(string symbol, string encoded)
    {
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync(symbol, Fixtures.Monday, Hourly, CancellationToken.None);

        var request = Assert.Single(server.Requests);
        Assert.StartsWith($"/v8/finance/chart/{encoded}?", request.RawTarget, StringComparison.Ordinal);
        Assert.Equal(symbol, request.Symbol);
        Assert.False(quotes.Failed, quotes.Error);
    }

    [Theory]
    [InlineData("..")] // /v8/finance/?…: another endpoint
    [InlineData(".")] // /v8/finance/chart/?…
    [InlineData("A/B")]
    [InlineData("")]
    public async Task Fetch_SymbolThatIsNotATicker_FailsThatTickerWithoutARequest(string symbol)
    {
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var provider = Provider(server);

        var quotes = (await provider.FetchManyAsync([symbol, "MSFT"], Fixtures.Monday, Hourly, CancellationToken.None))[0];

        Assert.True(quotes.Failed);
        Assert.False(quotes.Transient, "a ticker that is not one fails the same way on every retry");
        Assert.Contains("not a ticker", quotes.Error, StringComparison.Ordinal);
        Assert.Equal("MSFT", Assert.Single(server.Requests).Symbol);
        Assert.Throws<ArgumentException>(() => provider.RequestUri(symbol, Fixtures.Monday, "1h"));
    }

    [Fact]
    public async Task Fetch_BaseUrlMayCarryAPathPrefix()
    {
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var provider = Provider(server, o => o.BaseUrl = new Uri(server.BaseUrl, "/mirror/yahoo/"));

        await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.StartsWith("/mirror/yahoo/v8/finance/chart/MSFT?", Assert.Single(server.Requests).RawTarget, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_429WithRetryAfter_WaitsThatLongThenSucceeds()
    {
        await using var server = await YahooStubServer.StartAsync((context, request) => request.Attempt == 1
            ? YahooStubServer.Write(context, HttpStatusCode.TooManyRequests, "Too Many Requests", retryAfter: "1")
            : YahooStubServer.Chart(context, request));
        using var provider = Provider(server, o => o.RetryBaseDelay = TimeSpan.FromMilliseconds(10));

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.False(quotes.Failed, quotes.Error);
        Assert.Equal(24, quotes.Bars.Count);
        var requests = server.Requests;
        Assert.Equal(2, requests.Count);
        var waited = requests[1].ArrivedAt - requests[0].ArrivedAt;
        Assert.True(waited >= TimeSpan.FromMilliseconds(950), $"retried after {waited.TotalMilliseconds} ms despite Retry-After: 1");
    }

    [Fact]
    public async Task Fetch_RetryAfterLongerThanAllowed_GivesUpAtOnceWithAnError()
    {
        await using var server = await YahooStubServer.StartAsync((context, _) =>
            YahooStubServer.Write(context, HttpStatusCode.TooManyRequests, "Too Many Requests", retryAfter: "3600"));
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Single(server.Requests);
        Assert.True(quotes.FailedTransiently, "Yahoo asked for a later retry");
        Assert.Contains("Retry-After 3600 s", quotes.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_429OnEveryAttempt_FailsTransientlyAfterMaxAttempts()
    {
        await using var server = await YahooStubServer.StartAsync((context, _) =>
            YahooStubServer.Write(context, HttpStatusCode.TooManyRequests, "Too Many Requests", retryAfter: "0"));
        using var provider = Provider(server, o => o.MaxAttempts = 3);

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Equal(3, server.Requests.Count);
        Assert.True(quotes.FailedTransiently, quotes.Error);
        Assert.Contains("after 3 attempt(s): HTTP 429", quotes.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_503ThenOk_IsRetried()
    {
        await using var server = await YahooStubServer.StartAsync((context, request) => request.Attempt == 1
            ? YahooStubServer.Write(context, HttpStatusCode.ServiceUnavailable, "busy")
            : YahooStubServer.Chart(context, request));
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Equal(2, server.Requests.Count);
        Assert.False(quotes.Failed, quotes.Error);
        Assert.Equal(24, quotes.Bars.Count);
    }

    [Fact]
    public async Task Fetch_Persistent5xx_StopsAfterMaxAttemptsWithAnError()
    {
        await using var server = await YahooStubServer.StartAsync((context, _) =>
            YahooStubServer.Write(context, HttpStatusCode.BadGateway, "bad gateway"));
        using var provider = Provider(server, o => o.MaxAttempts = 3);

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Equal(3, server.Requests.Count);
        Assert.True(quotes.FailedTransiently, "the server may answer a later retry");
        Assert.Contains("after 3 attempt(s)", quotes.Error, StringComparison.Ordinal);
        Assert.Contains("502", quotes.Error, StringComparison.Ordinal);
        Assert.Empty(quotes.Bars);
    }

    [Fact]
    public async Task Fetch_AttemptThatTimesOut_IsRetried()
    {
        // The attempt timeout runs on the provider's TimeProvider: the test ends attempt 1 by advancing it, once that
        // attempt is held by the server, and never advances it again, so attempt 2 has all the time a loaded machine
        // needs. Was: a real 300 ms timeout, which a slow second answer also ran out of.
        var time = new FakeTimeProvider(Clock.GetUtcNow());
        var firstHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await YahooStubServer.StartAsync(async (context, request) =>
        {
            if (request.Attempt == 1)
            {
                firstHeld.TrySetResult();
                await HoldUntilAborted(context);
                firstAborted.TrySetResult();
                return;
            }

            await YahooStubServer.Chart(context, request);
        });
        using var http = new HttpClient();
        using var provider = Provider(server, http, time, o =>
        {
            o.AttemptTimeout = TimeSpan.FromSeconds(10);
            o.RetryBaseDelay = TimeSpan.Zero; // the retry goes out at once, without another advance
        });

        var fetch = provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);
        await firstHeld.Task.WaitAsync(HangGuard);
        Assert.Single(server.Requests); // nothing retried before its timeout
        time.Advance(TimeSpan.FromSeconds(10));
        var quotes = await fetch.WaitAsync(HangGuard);

        await firstAborted.Task.WaitAsync(HangGuard); // the client gave up on attempt 1
        Assert.Equal([1, 2], server.Requests.Select(r => r.Attempt));
        Assert.False(quotes.Failed, quotes.Error);
        Assert.Equal(24, quotes.Bars.Count);
    }

    [Fact]
    public async Task Fetch_EveryAttemptTimesOut_ReportsTimeout()
    {
        await using var server = await YahooStubServer.StartAsync((context, _) => HoldUntilAborted(context));
        using var provider = Provider(server, o =>
        {
            o.AttemptTimeout = TimeSpan.FromMilliseconds(200);
            o.MaxAttempts = 2;
        });

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Equal(2, server.Requests.Count);
        Assert.True(quotes.FailedTransiently, quotes.Error);
        Assert.Contains("timed out", quotes.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_CallerCancellation_IsThrownNotReported()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await YahooStubServer.StartAsync((context, _) =>
        {
            arrived.TrySetResult();
            return HoldUntilAborted(context);
        });
        using var provider = Provider(server);
        using var cts = new CancellationTokenSource();

        var fetch = provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, cts.Token);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);
    }

    [Fact]
    public async Task Fetch_404_IsUnknownOrDelistedAndNotRetried()
    {
        await using var server = await YahooStubServer.StartAsync((context, _) => YahooStubServer.NotFound(context));
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("NOPE", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Single(server.Requests);
        Assert.StartsWith("unknown or delisted: NOPE", quotes.Error, StringComparison.Ordinal);
        Assert.False(quotes.Transient, "an unknown symbol stays unknown on a retry");
    }

    [Fact]
    public async Task Fetch_400_ReportsYahoosDescriptionAndIsNotRetried()
    {
        var body = System.Text.Encoding.UTF8.GetString(Fixtures.Bytes("bad-request-400.json"));
        await using var server = await YahooStubServer.StartAsync((context, _) => YahooStubServer.Write(context, HttpStatusCode.BadRequest, body));
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Single(server.Requests);
        Assert.Contains("HTTP 400", quotes.Error, StringComparison.Ordinal);
        Assert.Contains("within the last 730 days", quotes.Error, StringComparison.Ordinal);
        Assert.False(quotes.Transient);
    }

    [Fact]
    public async Task Fetch_MalformedResponse_IsAPerTickerError()
    {
        var body = System.Text.Encoding.UTF8.GetString(Fixtures.Bytes("mismatched-lengths.json"));
        await using var server = await YahooStubServer.StartAsync((context, _) => YahooStubServer.Write(context, HttpStatusCode.OK, body));
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Single(server.Requests);
        Assert.True(quotes.Failed);
        Assert.False(quotes.Transient, "a response that breaks the format is not cured by asking again");
        Assert.Contains("indicators.quote[0].close has length 6", quotes.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_AResponseAtAnotherGranularity_FailsThatTickerPermanently_NamingFieldValueAndInterval()
    {
        var daily = System.Text.Encoding.UTF8.GetString(Fixtures.Bytes("daily-with-adjclose.json")).Replace("^GSPC", "AAPL", StringComparison.Ordinal);
        await using var server = await YahooStubServer.StartAsync((context, request) => request.Symbol == "AAPL"
            ? YahooStubServer.Write(context, HttpStatusCode.OK, daily)
            : YahooStubServer.Chart(context, request));
        using var provider = Provider(server);

        var results = await provider.FetchManyAsync(["AAPL", "MSFT"], Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.True(results[0].Failed);
        Assert.False(results[0].Transient, "another granularity is not cured by asking again");
        Assert.Empty(results[0].Bars);
        Assert.Equal("malformed yahoo response: chart response for AAPL: meta.dataGranularity is '1d' but interval '1h' was requested", results[0].Error);
        Assert.Single(server.RequestsFor("AAPL"));
        Assert.False(results[1].Failed, results[1].Error);
    }

    [Fact]
    public async Task FetchMany_OneUnknownTicker_OthersStillSucceed()
    {
        await using var server = await YahooStubServer.StartAsync((context, request) => request.Symbol == "NOPE"
            ? YahooStubServer.NotFound(context)
            : YahooStubServer.Chart(context, request));
        using var provider = Provider(server);

        var results = await provider.FetchManyAsync(["AAPL", "NOPE", "MSFT"], Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.Equal(new[] { "AAPL", "NOPE", "MSFT" }, results.Select(r => r.Ticker));
        Assert.False(results[0].Failed, results[0].Error);
        Assert.Equal(24, results[0].Bars.Count);
        Assert.StartsWith("unknown or delisted: NOPE", results[1].Error, StringComparison.Ordinal);
        Assert.False(results[2].Failed, results[2].Error);
        Assert.Equal(24, results[2].Bars.Count);
        Assert.Single(server.RequestsFor("NOPE"));
    }

    [Fact]
    public async Task FetchMany_AnUnexpectedExceptionOfOneTicker_FailsItPermanently_AndNotTheOthers()
    {
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var http = new HttpClient(new ThrowingFor("BOOM") { InnerHandler = new SocketsHttpHandler() });
        using var provider = Provider(server, http);

        var results = await provider.FetchManyAsync(["AAPL", "BOOM"], Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.False(results[0].Failed, results[0].Error);
        // Not I/O: every retry of the window would meet it again and hold the job's other tickers back with it.
        Assert.True(results[1].Failed && !results[1].FailedTransiently, "a bug is not cured by a retry");
        Assert.Equal("unexpected InvalidOperationException: a bug below the provider", results[1].Error);
    }

    [Fact]
    public async Task FetchMany_RequestRateStaysWithinLimitPlusBurst()
    {
        const double Rate = 10;
        const int Burst = 2;
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var http = new HttpClient();
        await WarmUpConnections(server, http, connections: 8);
        var bucketCreated = server.Elapsed; // no later than the bucket's own start, on the clock arrivals are read from
        using var provider = Provider(server, http, o =>
        {
            o.RequestsPerSecond = Rate;
            o.Burst = Burst;
            o.MaxConcurrency = 8;
        });
        var tickers = Enumerable.Range(1, 20).Select(i => $"T{i:00}").ToArray();

        var results = await provider.FetchManyAsync(tickers, Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.All(results, r => Assert.False(r.Failed, r.Error));
        var arrivals = server.Requests.Where(r => r.Symbol.StartsWith('T')).Select(r => r.ArrivedAt - bucketCreated).Order().ToArray();
        Assert.Equal(20, arrivals.Length);
        // The bucket's rule: it starts with Burst tokens and gains one token per 1/Rate s, a refill never sooner than that
        // after the previous one (the limiter checks the elapsed stopwatch time, the clock the server stamps arrivals with).
        // So by t s after its creation it has handed out at most Burst + floor(t * Rate) tokens, and a request arrives only
        // after its token: the n-th arrival is no earlier than (n - Burst) / Rate s. A loaded machine only makes refills
        // and requests later, never earlier, so the bound holds at any load; counting arrivals per wall-clock second did
        // not (a late refill and the next on-time one, or requests delayed after their tokens, bunch within a second).
        // The 25 ms is for the replenishment timer, which may fire a few ms early against the stopwatch (one CI run: a
        // refill 95 ms after the previous one, request 11 at 894 ms for 900), and rounding; it does not accumulate (the
        // timer keeps its period) and stays far below one refill (100 ms), which a limiter handing out extra tokens breaks.
        var timeline = string.Join(" ", arrivals.Select(a => (int)a.TotalMilliseconds));
        for (var n = Burst + 1; n <= arrivals.Length; n++)
        {
            var earliest = TimeSpan.FromSeconds((n - Burst) / Rate) - TimeSpan.FromMilliseconds(25);
            Assert.True(
                arrivals[n - 1] >= earliest,
                $"request {n} arrived {arrivals[n - 1].TotalMilliseconds:F0} ms after the bucket was created, before its token could exist ({earliest.TotalMilliseconds:F0} ms); ms: {timeline}");
        }
    }

    [Fact]
    public async Task FetchMany_InFlightRequestsStayWithinTheConcurrencyBound()
    {
        await using var server = await YahooStubServer.StartAsync(async (context, request) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(150), context.RequestAborted);
            await YahooStubServer.Chart(context, request);
        });
        using var provider = Provider(server, o => o.MaxConcurrency = 3);
        var tickers = Enumerable.Range(1, 12).Select(i => $"C{i:00}").ToArray();

        var results = await provider.FetchManyAsync(tickers, Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.All(results, r => Assert.False(r.Failed, r.Error));
        Assert.Equal(12, server.Requests.Count);
        Assert.InRange(server.MaxInFlight, 2, 3);
    }

    [Fact]
    public async Task Fetch_LongBackfill_IsSplitIntoContiguousRequests()
    {
        var window = new TimeWindow(Fixtures.At("2023-11-01T00:00:00Z"), Fixtures.At("2024-02-09T00:00:00Z")); // 100 days
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("MSFT", window, Hourly, CancellationToken.None);

        var requests = server.Requests.OrderBy(r => r.Period1).ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Equal(window.Start.ToUnixTimeSeconds(), requests[0].Period1);
        Assert.Equal(requests[0].Period2, requests[1].Period1);
        Assert.Equal(window.End.ToUnixTimeSeconds(), requests[1].Period2);
        Assert.False(quotes.Failed, quotes.Error);
        Assert.Equal(100 * 24, quotes.Bars.Count);
        Assert.Equal(quotes.Bars.Count, quotes.Bars.Select(b => b.Timestamp).Distinct().Count());
    }

    [Fact]
    public async Task Fetch_ARequestWhollyBeforeTheListing_IsNoBars_AndTheLaterRequestsStillCount()
    {
        // A 100-day backfill of a symbol listed 30 days before its end: Yahoo answers the first 60-day request with
        // 400 "Data doesn't exist for startDate".
        var window = new TimeWindow(Fixtures.At("2023-11-01T00:00:00Z"), Fixtures.At("2024-02-09T00:00:00Z"));
        var listed = window.End.AddDays(-30).ToUnixTimeSeconds();
        const string noData = """{"chart":{"result":null,"error":{"code":"Bad Request","description":"Data doesn't exist for startDate = 1698796800, endDate = 1703980800"}}}""";
        await using var server = await YahooStubServer.StartAsync((context, request) => request.Period2 <= listed
            ? YahooStubServer.Write(context, HttpStatusCode.BadRequest, noData)
            : YahooStubServer.Chart(context, request));
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("NEWCO", window, Hourly, CancellationToken.None);

        Assert.False(quotes.Failed, quotes.Error);
        Assert.Equal(2, server.Requests.Count);
        Assert.Equal(40 * 24, quotes.Bars.Count); // the second request's 40 days; the stub serves every hour
    }

    [Fact]
    public async Task Fetch_ATickerThatFailsAfterARequestWithNullRows_CountsNoneOfThemAsDropped()
    {
        var window = new TimeWindow(Fixtures.At("2023-11-01T00:00:00Z"), Fixtures.At("2024-02-09T00:00:00Z"));
        var body = System.Text.Encoding.UTF8.GetString(Fixtures.Bytes("bad-request-400.json"));
        await using var server = await YahooStubServer.StartAsync((context, request) => request.Period1 == window.Start.ToUnixTimeSeconds()
            ? YahooStubServer.Chart(context, request, nullEvery: 10)
            : YahooStubServer.Write(context, HttpStatusCode.BadRequest, body));
        using var provider = Provider(server);

        var quotes = await provider.FetchAsync("AAPL", window, Hourly, CancellationToken.None);

        Assert.True(quotes.Failed);
        Assert.False(quotes.Transient);
        Assert.Empty(quotes.Bars);
        Assert.Equal(0, quotes.DroppedBars); // nothing of the ticker is written, so none of it counts as the stage's rejects
    }

    [Fact]
    public async Task Fetch_ALaterRequestOfABackfillFailingTransiently_FailsTheTickerTransiently()
    {
        var window = new TimeWindow(Fixtures.At("2023-11-01T00:00:00Z"), Fixtures.At("2024-02-09T00:00:00Z"));
        await using var server = await YahooStubServer.StartAsync((context, request) => request.Period1 == window.Start.ToUnixTimeSeconds()
            ? YahooStubServer.Chart(context, request)
            : YahooStubServer.Write(context, HttpStatusCode.ServiceUnavailable, "busy"));
        using var provider = Provider(server, o => o.MaxAttempts = 2);

        var quotes = await provider.FetchAsync("AAPL", window, Hourly, CancellationToken.None);

        Assert.True(quotes.FailedTransiently, quotes.Error);
        Assert.Contains("(request 2 of 2", quotes.Error, StringComparison.Ordinal);
        Assert.Empty(quotes.Bars);
    }

    [Fact]
    public async Task FetchMany_RetryAfterOnOneTicker_HoldsEveryTickersRequests()
    {
        var paused = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await YahooStubServer.StartAsync((context, request) =>
        {
            if (request.Symbol == "T00" && request.Attempt == 1)
            {
                paused.TrySetResult(request.ArrivedAt);
                return YahooStubServer.Write(context, HttpStatusCode.TooManyRequests, "Too Many Requests", retryAfter: "2");
            }

            return YahooStubServer.Chart(context, request);
        });
        using var provider = Provider(server, o => o.MaxConcurrency = 1);
        var tickers = Enumerable.Range(0, 6).Select(i => $"T{i:D2}").ToList();

        var results = await provider.FetchManyAsync(tickers, Fixtures.Monday, Hourly, CancellationToken.None);

        Assert.All(results, r => Assert.False(r.Failed, r.Error));
        var first = await paused.Task;
        var during = server.Requests.Where(r => r.ArrivedAt > first && r.ArrivedAt < first + TimeSpan.FromSeconds(1.9)).ToList();
        Assert.True(during.Count == 0, $"{during.Count} request(s) went out during the 2 s Retry-After: {string.Join(", ", during.Select(r => r.Symbol))}");
    }

    [Fact]
    public async Task FetchMany_WindowOlderThanYahooServes_ThrowsBeforeAnyRequest()
    {
        var window = new TimeWindow(Fixtures.At("2021-01-04T00:00:00Z"), Fixtures.At("2021-01-05T00:00:00Z"));
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        using var provider = Provider(server);

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => provider.FetchManyAsync(["MSFT", "AAPL"], window, Hourly, CancellationToken.None));

        Assert.Contains(window.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Empty(server.Requests);
    }

    private static YahooChartProvider Provider(YahooStubServer server, Action<YahooOptions>? configure = null) =>
        Provider(server, new HttpClient(), configure);

    private static YahooChartProvider Provider(YahooStubServer server, HttpClient http, Action<YahooOptions>? configure = null) =>
        Provider(server, http, Clock, configure);

    private static YahooChartProvider Provider(YahooStubServer server, HttpClient http, TimeProvider time, Action<YahooOptions>? configure = null)
    {
        var options = new YahooOptions
        {
            BaseUrl = server.BaseUrl,
            RequestsPerSecond = 1000,
            Burst = 1000,
            RetryBaseDelay = TimeSpan.FromMilliseconds(20),
            MaxRetryDelay = TimeSpan.FromSeconds(5),
            AttemptTimeout = TimeSpan.FromSeconds(10),
        };
        configure?.Invoke(options);
        return new YahooChartProvider(http, options, time);
    }

    /// <summary>Opens pooled connections first, so arrival times reflect the limiter rather than connection set-up.</summary>
    private static async Task WarmUpConnections(YahooStubServer server, HttpClient http, int connections)
    {
        var warmUp = new YahooChartProvider(http, new YahooOptions { BaseUrl = server.BaseUrl, RequestsPerSecond = 1000, Burst = 1000, MaxConcurrency = connections }, Clock);
        using (warmUp)
        {
            var tickers = Enumerable.Range(1, connections).Select(i => $"WARM{i}").ToArray();
            Assert.All(await warmUp.FetchManyAsync(tickers, Fixtures.Monday, Hourly, CancellationToken.None), r => Assert.False(r.Failed, r.Error));
        }
    }

    /// <summary>Throws what no HTTP client is expected to throw for requests of one symbol.</summary>
    private sealed class ThrowingFor(string symbol) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            request.RequestUri!.AbsolutePath.EndsWith($"/{symbol}", StringComparison.Ordinal)
                ? throw new InvalidOperationException("a bug below the provider")
                : base.SendAsync(request, cancellationToken);
    }

    private static async Task HoldUntilAborted(HttpContext context)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client gave up, as the test intends.
        }
    }
}

/// <summary>A clock whose "now" stands still while its timers run in real time.</summary>
internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
