using System.CommandLine;
using System.Globalization;
using DuckDB.NET.Data;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Stages;
using FinancialPipeline.Warehouse;
using Microsoft.Extensions.Configuration;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp gold</c>: what the local gold table holds, newest hours first, read-only from the DuckDB file <c>fp run</c> and
/// <c>fp up</c> write (no DuckDB client needed). In the cloud gold is BigQuery: query it there.
/// </summary>
internal static class GoldCommand
{
    public static Command Create()
    {
        var dataDir = LocalStack.DataDirectoryOption();
        var ticker = new Option<string?>("--ticker") { Description = "Only this ticker" };
        var limit = LimitOption.Create("Rows to show, newest hour first");
        var command = new Command("gold", "The local gold table (financial_data_hour in DuckDB): a summary and the newest hours");
        command.Options.Add(dataDir);
        command.Options.Add(ticker);
        command.Options.Add(limit);
        command.SetAction((parse, ct) => ExecuteAsync(parse.GetValue(dataDir)!, parse.GetValue(ticker), parse.GetValue(limit), ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(string dataDirectory, string? ticker, int limit, CancellationToken ct)
    {
        if (ticker is not null && !JobConfig.IsValidTicker(ticker.ToUpperInvariant()))
        {
            Console.Error.WriteLine($"fp gold: --ticker '{ticker}' is not a ticker ({JobConfig.TickerRule})");
            return 2;
        }

        string warehouse;
        try
        {
            // Read as the function hosts read it: a malformed value is an error naming it, not the DuckDB default.
            warehouse = PipelineSettings.WarehouseFrom(new ConfigurationBuilder().AddEnvironmentVariables().Build());
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"fp gold: {ex.Message}");
            return 2;
        }

        if (warehouse == PipelineSettings.BigQueryWarehouse)
        {
            Console.Error.WriteLine("fp gold: FP_WAREHOUSE=bigquery: gold is the BigQuery table financial_data_hour; query it with bq or the console");
            return 2;
        }

        if (DataDirectoryLock.IsAFile("gold", dataDirectory))
        {
            return 2;
        }

        var path = PipelineSettings.DuckDbPathIn(dataDirectory);
        try
        {
            var (summary, rows) = await DuckDbGoldReader.ReadNewestAsync(path, ticker?.ToUpperInvariant(), limit, TimeProvider.System, ct);
            Write(path, ticker, summary, rows);
            return 0;
        }
        catch (Exception ex) when (ex is GoldUnavailableException or DuckDBException)
        {
            Console.Error.WriteLine($"fp gold: {ex.Message}");
            return 1;
        }
    }

    private static void Write(string path, string? ticker, GoldSummary summary, IReadOnlyList<GoldHour> rows)
    {
        var of = ticker is null ? string.Empty : $" of {ticker.ToUpperInvariant()}";
        if (summary.Rows == 0)
        {
            Console.WriteLine($"{path}: financial_data_hour holds no rows{of}");
            return;
        }

        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{path}: financial_data_hour holds {summary.Rows} row(s){of}, {summary.Tickers} ticker(s), hours {Hour(summary.FirstHour!.Value)} → {Hour(summary.LastHour!.Value)} UTC"));
        var table = new Table();
        table.AddColumns("hour (UTC)", "ticker", "currency", "open", "high", "low", "close", "volume", "vwap", "bars", "return %", "range %", "execution", "updated (UTC)");
        foreach (var column in table.Columns.Skip(3).Take(9))
        {
            column.RightAligned();
        }

        foreach (var row in rows)
        {
            table.AddRow(
                Hour(row.Hour),
                Markup.Escape(row.Ticker),
                row.Currency is { } currency ? Markup.Escape(currency) : "-",
                Price(row.Open),
                Price(row.High),
                Price(row.Low),
                Price(row.Close),
                row.Volume.ToString("N0", CultureInfo.InvariantCulture),
                row.Vwap is { } v ? Price(v) : "-",
                row.BarCount.ToString(CultureInfo.InvariantCulture),
                row.ReturnPct is { } r ? r.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) : "-",
                row.RangePct is { } g ? g.ToString("0.000", CultureInfo.InvariantCulture) : "-",
                Markup.Escape(row.ExecutionId),
                row.UpdatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);
    }

    private static string Hour(DateTimeOffset hour) => hour.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    /// <summary>Four decimals, and up to eight under 1 (a sub-penny price showed as 0.0000); stored values keep full precision.</summary>
    internal static string Price(double value) =>
        value.ToString(Math.Abs(value) < 1 ? "0.0000####" : "0.0000", CultureInfo.InvariantCulture);
}
