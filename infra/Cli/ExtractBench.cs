using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp bench extract</c>: the Extract function fetching N tickers through the Yahoo chart provider from a local
/// server speaking the chart API's format with a fixed latency and a strict requests-per-second limit (429 above
/// it). The whole stage runs as in production: start message through the emulator, ledger, bronze Parquet.
/// </summary>
internal static class ExtractBench
{
    public static Command Create()
    {
        var tickers = CheckedOptions.WholeNumber("--tickers", "Tickers in the job", defaultValue: 500, min: 1);
        var latency = CheckedOptions.WholeNumber("--latency-ms", "Server latency per request", defaultValue: 50, min: 0);
        var limit = CheckedOptions.WholeNumber("--limit", "Server limit, requests per second (429 above)", defaultValue: 20, min: 1);
        var command = new Command("extract", "Extract N tickers from a local rate-limited Yahoo-format server (target ≥ 0.9 of the limit, 0 tickers lost)");
        command.Options.Add(tickers);
        command.Options.Add(latency);
        command.Options.Add(limit);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(tickers), parse.GetValue(latency), parse.GetValue(limit), ct));
        return command;
    }

    private static async Task<int> RunAsync(int tickerCount, int latencyMs, int limit, CancellationToken ct)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        await using var infra = await LocalInfrastructure.StartAsync(loggers, ct);
        await using var yahoo = await LocalYahooServer.StartAsync(new LocalYahooServerOptions { Latency = TimeSpan.FromMilliseconds(latencyMs), RequestsPerSecond = limit }, ct);
        var dataDir = Directory.CreateTempSubdirectory("fp-bench-extract-");
        try
        {
            // The operator sets the provider's rate to the API's documented limit: FP_YAHOO_REQUESTS_PER_SECOND.
            await using var pipeline = await LocalPipeline.StartAsync(
                infra,
                new LocalPipelineOptions { Prefix = "bench-x-", DataDirectory = dataDir.FullName, YahooBaseUrl = yahoo.BaseUrl, YahooRequestsPerSecond = limit },
                ct);
            await using var bench = await BenchJob.CreateAsync(infra.PostgresConnection, "bench_extract", "yahoo", "X", 4, tickerCount, TimeSpan.FromDays(5), ct);
            var (job, ledger) = (bench.Job, bench.Ledger);

            Console.WriteLine($"extract: {tickerCount} tickers from {yahoo.BaseUrl} ({latencyMs} ms latency, {limit} requests/s, 429 above)");
            var start = new StartMessage(Guid.NewGuid(), job.JobName, TimeProvider.System.GetUtcNow(), null);
            var clock = Stopwatch.StartNew();
            await pipeline.PubSub.PublishAsync(pipeline.Topology.StartTopic, [new PubsubMessage(start.ToUtf8Json(), start.Attributes())], ct);
            ExecutionRow? bronze = null;
            var timeout = TimeSpan.FromSeconds(60 + (3.0 * tickerCount / limit));
            while (clock.Elapsed < timeout && bronze?.Status is not ("SUCCESS" or "FAILED"))
            {
                await Task.Delay(50, ct);
                bronze = await ledger.GetAsync(start.ExecutionId, Stage.Bronze, ct);
            }

            if (bronze?.Status != "SUCCESS")
            {
                Console.WriteLine($"bronze did not succeed: {bronze?.Status ?? "no row"} {bronze?.Error}");
                Console.WriteLine("RESULT extract_rate_fraction 0 target 0.9 missed");
                return 1;
            }

            var completion = StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes(bronze.CompletionJson!), Stage.Bronze);
            var stage = bronze.FinishedAt!.Value - bronze.StartedAt;
            var achieved = (yahoo.Admitted - 1) / yahoo.AdmittedSpan.TotalSeconds;
            var fraction = achieved / limit;
            var lost = completion.FailedTickers.Count;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stage {stage.TotalSeconds:F1} s, {completion.Records.Written} bars written, requests admitted {yahoo.Admitted} over {yahoo.AdmittedSpan.TotalSeconds:F1} s"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"achieved {achieved:F2} requests/s = {fraction:F3} of the limit; 429s received {yahoo.Answered429}; tickers lost {lost}"));
            var met = fraction >= 0.9 && lost == 0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT extract_rate_fraction {fraction:F3} target 0.9 {(met ? "met" : "missed")}"));
            return 0;
        }
        finally
        {
            dataDir.Delete(recursive: true);
        }
    }
}
