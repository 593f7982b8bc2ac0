using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using FinancialPipeline.DevServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FinancialPipeline.Providers.Tests;

/// <summary>What the stub saw of one request.</summary>
/// <param name="Attempt">1 for the first request for this symbol, 2 for the next…</param>
/// <param name="ArrivedAt">Since the server started.</param>
public sealed record StubRequest(string Symbol, string RawTarget, IReadOnlyDictionary<string, string> Query, string UserAgent, int Attempt, TimeSpan ArrivedAt)
{
    public long Period1 => long.Parse(Query["period1"]!, CultureInfo.InvariantCulture);

    public long Period2 => long.Parse(Query["period2"]!, CultureInfo.InvariantCulture);
}

/// <summary>
/// A Kestrel server on 127.0.0.1 (free port) speaking the chart API's format. Each test supplies how to answer and
/// reads back what arrived: raw targets, query, user agent, arrival times and the most requests in flight at once.
/// </summary>
public sealed class YahooStubServer : IAsyncDisposable
{
    private const string ChartPrefix = "/v8/finance/chart/";

    private readonly Func<HttpContext, StubRequest, Task> _respond;
    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<StubRequest> _requests = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _inFlight;
    private int _maxInFlight;

    private LoopbackHttpServer _http = null!;

    private YahooStubServer(Func<HttpContext, StubRequest, Task> respond)
    {
        _respond = respond;
    }

    public Uri BaseUrl => _http.BaseAddress;

    public IReadOnlyList<StubRequest> Requests => [.. _requests];

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Now on the clock <see cref="StubRequest.ArrivedAt"/> is read from (monotonic, since the server started).</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    public static async Task<YahooStubServer> StartAsync(Func<HttpContext, StubRequest, Task> respond)
    {
        var server = new YahooStubServer(respond);
        server._http = await LoopbackHttpServer.StartAsync(server.HandleAsync);
        return server;
    }

    public IReadOnlyList<StubRequest> RequestsFor(string symbol) => [.. Requests.Where(r => r.Symbol == symbol)];

    public ValueTask DisposeAsync() => _http.DisposeAsync();

    /// <summary>
    /// A 200 with hourly bars at hh:30 in [period1, period2), plus the live bar Yahoo appends after period2; with
    /// <paramref name="nullEvery"/>, every such row's prices are null (a row Yahoo sends without a trade).
    /// </summary>
    public static Task Chart(HttpContext context, StubRequest request) => Chart(context, request, nullEvery: 0);

    public static Task Chart(HttpContext context, StubRequest request, int nullEvery)
    {
        var timestamps = new List<long>();
        var first = request.Period1 - (request.Period1 % 3600) + 1800;
        for (var t = first < request.Period1 ? first + 3600 : first; t < request.Period2; t += 3600)
        {
            timestamps.Add(t);
        }

        timestamps.Add(request.Period2 + 1800);
        var prices = string.Join(',', timestamps.Select((t, i) => nullEvery > 0 && i % nullEvery == 0 ? "null" : (100 + (t % 997) / 100.0).ToString(CultureInfo.InvariantCulture)));
        var volumes = string.Join(',', timestamps.Select((t, i) => i == timestamps.Count - 1 ? "0" : (1000 + (t % 5000)).ToString(CultureInfo.InvariantCulture)));
        var symbol = System.Text.Json.JsonSerializer.Serialize(request.Symbol);
        var body =
            "{\"chart\":{\"result\":[{\"meta\":{\"currency\":\"USD\",\"symbol\":" + symbol + ",\"dataGranularity\":\"" + request.Query["interval"] + "\"},"
            + "\"timestamp\":[" + string.Join(',', timestamps) + "],"
            + "\"indicators\":{\"quote\":[{\"volume\":[" + volumes + "],\"open\":[" + prices + "],\"high\":[" + prices + "],\"low\":[" + prices + "],\"close\":[" + prices + "]}]}}],"
            + "\"error\":null}}";
        return Write(context, HttpStatusCode.OK, body);
    }

    public static Task NotFound(HttpContext context) =>
        Write(context, HttpStatusCode.NotFound, """{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}""");

    public static Task Write(HttpContext context, HttpStatusCode status, string body, string? retryAfter = null)
    {
        context.Response.StatusCode = (int)status;
        context.Response.ContentType = "application/json;charset=utf-8";
        if (retryAfter is not null)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }

        return context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(body)).AsTask();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var inFlight = Interlocked.Increment(ref _inFlight);
        try
        {
            UpdateMax(inFlight);
            var path = context.Request.Path.Value ?? string.Empty;
            var at = path.IndexOf(ChartPrefix, StringComparison.Ordinal);
            if (at < 0)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }

            var symbol = path[(at + ChartPrefix.Length)..];
            var request = new StubRequest(
                symbol,
                context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget,
                context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal),
                context.Request.Headers.UserAgent.ToString(),
                _attempts.AddOrUpdate(symbol, 1, (_, n) => n + 1),
                _clock.Elapsed);
            _requests.Enqueue(request);
            await _respond(context, request);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private void UpdateMax(int inFlight)
    {
        int seen;
        while (inFlight > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, inFlight, seen) != seen)
        {
        }
    }
}
