using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Jobs;
using Npgsql;

namespace FinancialPipeline.Cli;

/// <summary>
/// A benchmark's job in the control DB — hourly bars of <c>tickerCount</c> generated tickers, a 3-bar overlap,
/// the bench buckets — and the ledger its executions are watched in.
/// </summary>
internal sealed class BenchJob : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;

    private BenchJob(NpgsqlDataSource dataSource, JobConfig job)
    {
        _dataSource = dataSource;
        Job = job;
        Ledger = new ExecutionLedger(dataSource, TimeProvider.System, new LedgerOptions());
    }

    public JobConfig Job { get; }

    public ExecutionLedger Ledger { get; }

    /// <param name="name">Prefix of the job name; a random suffix keeps runs apart.</param>
    /// <param name="tickerPrefix">Tickers are this prefix and a zero-padded number of <paramref name="tickerDigits"/> digits.</param>
    public static async Task<BenchJob> CreateAsync(
        string postgresConnection, string name, string provider, string tickerPrefix, int tickerDigits, int tickerCount, TimeSpan lookback, CancellationToken ct)
    {
        var dataSource = ControlDbDataSource.Create(postgresConnection);
        try
        {
            var number = "D" + tickerDigits.ToString(CultureInfo.InvariantCulture);
            var job = JobConfig.Create(
                $"{name}_{Guid.NewGuid():N}"[..(name.Length + 11)],
                string.Join(',', Enumerable.Range(1, tickerCount).Select(i => tickerPrefix + i.ToString(number, CultureInfo.InvariantCulture))),
                3600, 10800, "bench-bronze", "bench-silver", provider, "1h", (int)lookback.TotalSeconds, true);
            await new JobConfigRepository(dataSource).UpsertAsync(job, "bench", ct);
            return new BenchJob(dataSource, job);
        }
        catch
        {
            await dataSource.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
