using System.CommandLine;
using System.Diagnostics;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Operations;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp run</c>: brings up the local stack (PostgreSQL, Pub/Sub emulator, the three function hosts, the topology),
/// publishes one start message exactly as the Airflow task does, follows the ledger until gold succeeds,
/// prints a summary, and stops everything it started.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var job = new Option<string>("--job") { Description = "Job name (ingestion_job_config.job_name)", DefaultValueFactory = _ => "financial_extract" }.JobName(); // checked before the stack starts
        var timeout = CheckedOptions.WholeNumber("--timeout", "Seconds to wait for gold SUCCESS", defaultValue: 120, min: 1); // checked before the stack starts
        var dataDir = LocalStack.DataDirectoryOption();
        var command = new Command("run", "Run the pipeline once, locally, end to end");
        command.Options.Add(job);
        command.Options.Add(timeout);
        command.Options.Add(dataDir);
        command.SetAction((parse, ct) => ExecuteAsync(
            parse.GetValue(job)!,
            TimeSpan.FromSeconds(parse.GetValue(timeout)),
            parse.GetValue(dataDir)!,
            ct));
        return command;
    }

    private static Task<int> ExecuteAsync(string jobName, TimeSpan timeout, string dataDir, CancellationToken ct) =>
        LocalStack.RunAsync("run", new LocalPipelineOptions { DataDirectory = dataDir }, pipeline => RunOnceAsync(pipeline, jobName, timeout, ct), ct);

    private static async Task<int> RunOnceAsync(LocalPipeline pipeline, string jobName, TimeSpan timeout, CancellationToken ct)
    {
        await using var dataSource = ControlDbDataSource.Create(pipeline.Infrastructure.PostgresConnection);
        var ledger = new ExecutionLedger(dataSource, TimeProvider.System, new LedgerOptions());
        if ((await StartChecks.FindRunnableJobAsync(dataSource, jobName, ct)).Refusal is { } refusal)
        {
            Console.Error.WriteLine($"fp run: {refusal}");
            return 2;
        }

        var finalFailures = new FinalFailures(new RejectedMessageStore(dataSource), new AlertNotificationStore(dataSource, TimeProvider.System));
        var requestedAt = TimeProvider.System.GetUtcNow();
        var start = new StartMessage(Guid.NewGuid(), jobName, requestedAt, Window: null);
        var published = Stopwatch.StartNew();
        await pipeline.PubSub.PublishAsync(pipeline.Topology.StartTopic, [new PubsubMessage(start.ToUtf8Json(), start.Attributes())], ct);
        AnsiConsole.MarkupLine($"published start message [bold]{start.ExecutionId}[/] to {pipeline.Topology.StartTopic}");

        var seen = new Dictionary<string, string>();
        IReadOnlyList<ExecutionRow> rows = [];
        while (published.Elapsed < timeout)
        {
            rows = await ledger.ListAsync(start.ExecutionId, ct);
            foreach (var row in rows)
            {
                var state = $"{row.Status} (attempt {row.Attempt})";
                if (!seen.TryGetValue(row.Stage, out var before) || before != state)
                {
                    seen[row.Stage] = state;
                    AnsiConsole.MarkupLine($"  {published.Elapsed.TotalSeconds,6:F2}s  {row.Stage,-6} {Markup.Escape(state)}{(row.Error is null ? string.Empty : " — " + Markup.Escape(row.Error))}");
                }
            }

            if (rows.Any(r => r.Stage == StageNames.Gold && r.Status == "SUCCESS"))
            {
                break;
            }

            // Final without gold: a rejected message is never redelivered, and a dead-lettered one only by a replay.
            if (await finalFailures.ReasonAsync(start.ExecutionId, rows, requestedAt, ct) is { } final)
            {
                PrintSummary(start.ExecutionId, rows, pipeline);
                Console.Error.WriteLine($"fp run: {final}");
                return 1;
            }

            await Task.Delay(100, ct);
        }

        PrintSummary(start.ExecutionId, rows, pipeline);
        if (rows.Any(r => r.Stage == StageNames.Gold && r.Status == "SUCCESS"))
        {
            AnsiConsole.MarkupLine($"[green]done[/] in {published.Elapsed.TotalSeconds:F2}s");
            return 0;
        }

        var reason = rows.FirstOrDefault(r => r.Status == "FAILED") is { } failed
            ? $"timed out after {timeout.TotalSeconds:F0}s; {failed.Stage} failed: {failed.Error}"
            : $"timed out after {timeout.TotalSeconds:F0}s waiting for gold SUCCESS";
        Console.Error.WriteLine($"fp run: {reason}");
        return 1;
    }

    private static string Outputs(string? filename)
    {
        var lines = filename?.Split('\n', StringSplitOptions.RemoveEmptyEntries) ?? [];
        return lines.Length switch
        {
            0 => "-",
            1 => Path.GetFileName(lines[0].Split('#')[0]), // gold's table is named under the summary
            _ => $"{lines.Length} objects",
        };
    }

    private static void PrintSummary(Guid executionId, IReadOnlyList<ExecutionRow> rows, LocalPipeline pipeline)
    {
        // The stages share the window bronze pinned: it goes in the caption, so the table fits 80 columns.
        var table = new Table().Title($"execution {executionId}").Caption($"window (UTC) {Markup.Escape(rows.Count > 0 ? LedgerCells.Window(rows[0]) : "-")}");
        table.AddColumns("stage", "status", "attempt", "rows in → out", "duration", "output");
        foreach (var row in rows)
        {
            var duration = row.FinishedAt is { } f ? $"{(f - row.StartedAt).TotalMilliseconds:F0} ms" : "-";
            table.AddRow(row.Stage, row.Status, row.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture), LedgerCells.Records(row), duration, Markup.Escape(Outputs(row.Filename)));
        }

        AnsiConsole.Write(table);
        LedgerCells.WriteFootnotes(rows);

        AnsiConsole.MarkupLine($"[grey]buckets: {Markup.Escape(pipeline.Settings.BucketsRoot)}  gold: {Markup.Escape(pipeline.Settings.DuckDbPath)} (table financial_data_hour)[/]");
    }
}
