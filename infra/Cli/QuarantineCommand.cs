using System.CommandLine;
using System.Globalization;
using DuckDB.NET.Data;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Warehouse;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp quarantine</c>: the rows Transform set aside in the local silver buckets, with the rule each broke and why,
/// read from the Parquet files without a DuckDB client. In the cloud, query the BigQuery external table instead.
/// </summary>
internal static class QuarantineCommand
{
    public static Command Create()
    {
        var dataDir = LocalStack.DataDirectoryOption();
        var bucket = new Option<string?>("--bucket") { Description = "Only this silver bucket (default: every local bucket holding a quarantine)" };
        var executionId = ExecutionIdOption.Create("Only the rows this execution set aside");
        var limit = LimitOption.Create("Rows to show per bucket, newest bar first");
        var command = new Command("quarantine", "Rows Transform quarantined in the local silver buckets, with the rule and reason");
        command.Options.Add(dataDir);
        command.Options.Add(bucket);
        command.Options.Add(executionId);
        command.Options.Add(limit);
        command.SetAction((parse, ct) => ExecuteAsync(parse.GetValue(dataDir)!, parse.GetValue(bucket), parse.GetValue(executionId), parse.GetValue(limit), ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(string dataDirectory, string? bucket, Guid? executionId, int limit, CancellationToken ct)
    {
        var buckets = Path.Combine(Path.GetFullPath(dataDirectory), "buckets");
        List<string> roots;
        if (bucket is not null)
        {
            if (BucketNames.Problem(bucket) is { } problem)
            {
                Console.Error.WriteLine($"fp quarantine: --bucket '{bucket}' {problem}");
                return 2;
            }

            roots = [Path.Combine(buckets, bucket)];
        }
        else
        {
            roots = Directory.Exists(buckets)
                ? Directory.EnumerateDirectories(buckets).Where(d => Directory.Exists(Path.Combine(d, ObjectLayout.RejectedDataset))).Order(StringComparer.Ordinal).ToList()
                : [];
        }

        var shown = 0;
        try
        {
            foreach (var root in roots)
            {
                if (await DuckDbQuarantineReader.ReadAsync(root, executionId, limit, ct) is not { } found || found.ByRule.Count == 0)
                {
                    continue;
                }

                shown++;
                Write(root, found.ByRule, found.Newest);
            }
        }
        catch (DuckDBException ex)
        {
            Console.Error.WriteLine($"fp quarantine: {ex.Message}");
            return 1;
        }

        if (shown == 0)
        {
            var of = executionId is { } id ? $" set aside by {id:D}" : string.Empty;
            Console.WriteLine($"no quarantined rows{of} under {buckets}: every row passed the silver rules");
        }

        return 0;
    }

    private static void Write(string root, IReadOnlyList<(string Rule, long Rows)> byRule, IReadOnlyList<QuarantinedBar> rows)
    {
        Console.WriteLine($"{Path.Combine(root, ObjectLayout.RejectedDataset)}: {byRule.Sum(r => r.Rows)} row(s) — "
            + string.Join(", ", byRule.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Rule} {r.Rows}"))));
        var table = new Table();
        table.AddColumns("bar (UTC)", "ticker", "open", "high", "low", "close", "volume", "rule", "reason", "rejected by");
        foreach (var row in rows)
        {
            table.AddRow(
                row.BarTs.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                Markup.Escape(row.Ticker),
                Number(row.Open),
                Number(row.High),
                Number(row.Low),
                Number(row.Close),
                row.Volume.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(row.Rule),
                Markup.Escape(row.Reason),
                Markup.Escape(row.RejectedBy));
        }

        AnsiConsole.Write(table);
    }

    private static string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
