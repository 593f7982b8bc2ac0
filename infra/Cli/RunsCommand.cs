using System.CommandLine;
using System.Globalization;
using FinancialPipeline.ControlDb;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary><c>fp runs</c>: recent executions with each stage's status, attempt, records and duration; zombies flagged.</summary>
internal static class RunsCommand
{
    public static Command Create()
    {
        var limit = LimitOption.Create("Executions to show");
        var job = new Option<string?>("--job") { Description = "Only this job" }.JobName();
        var executionId = ExecutionIdOption.Create("Print this execution whole: every stage's row with its full error, the alerts raised for it, the rejections naming it");
        var command = new Command("runs", "Recent executions and their stages");
        command.Options.Add(limit);
        command.Options.Add(job);
        command.Options.Add(executionId);
        command.SetAction((parse, ct) => parse.GetValue(executionId) is { } id
            ? ExecuteOneAsync(id, ct)
            : ExecuteAsync(parse.GetValue(limit), parse.GetValue(job), ct));
        return command;
    }

    private static async Task<int> ExecuteOneAsync(Guid executionId, CancellationToken ct)
    {
        await using var env = OperatorEnvironment.TryCreate("runs");
        if (env is null)
        {
            return 2;
        }

        var facts = await ExecutionReport.LoadAsync(env, executionId, ct);
        Console.Write(ExecutionReport.Render(facts, env.Operator.Time.GetUtcNow(), env.Settings.StaleAfter));
        return facts.IsEmpty ? 1 : 0;
    }

    private static async Task<int> ExecuteAsync(int limit, string? job, CancellationToken ct)
    {
        await using var env = OperatorEnvironment.TryCreate("runs");
        if (env is null)
        {
            return 2;
        }

        var rows = await env.Operator.Operations.RecentRunsAsync(limit, job, ct);
        var now = env.Operator.Time.GetUtcNow(); // after the rows: a stage claimed meanwhile would run for a negative time
        var rejectedToday = await new RejectedMessageStore(env.DataSource).CountSinceAsync(now.AddDays(-1), ct);
        var deadLettered = await new AlertNotificationStore(env.DataSource, env.Operator.Time)
            .DeadLetteredAsync(rows.Where(r => r.Status is "FAILED" or "RUNNING").Select(r => r.ExecutionId).Distinct(), raisedSince: null, ct);

        if (rows.Count == 0)
        {
            Console.WriteLine(job is null ? "no executions recorded" : $"no execution of job '{job}' found (fp jobs lists the jobs)");
        }
        else
        {
            WriteTable(rows, now, env.Settings.StaleAfter, deadLettered);
        }

        if (rejectedToday > 0)
        {
            // A rejected start message leaves no ledger row, so without this line it would not show here at all.
            AnsiConsole.MarkupLine(string.Create(
                CultureInfo.InvariantCulture,
                $"[yellow]{rejectedToday} message(s) rejected in the last 24 h (answered 200, never retried): fp rejected lists them[/]"));
        }

        return 0;
    }

    private static void WriteTable(IReadOnlyList<ExecutionRow> rows, DateTimeOffset now, TimeSpan staleAfter, IReadOnlyDictionary<(Guid ExecutionId, string Stage), DateTimeOffset> deadLettered)
    {
        var table = new Table();
        table.AddColumns("execution", "job", "stage", "status", "attempt", "reason", "rows in → out", "window (UTC)", "duration", "error");
        foreach (var row in rows)
        {
            var zombie = row.IsZombie(now, staleAfter);
            // FAILED alone does not say whether Pub/Sub is still retrying it; a dead-letter alert says it gave up.
            var status = zombie && row.IsDeadLettered(deadLettered) ? $"[red]ZOMBIE, dead-lettered[/] (heartbeat {(now - row.HeartbeatAt).TotalSeconds:F0}s ago; only a replay runs it again)"
                : zombie ? $"[red]ZOMBIE[/] (RUNNING, heartbeat {(now - row.HeartbeatAt).TotalSeconds:F0}s ago)"
                : row.IsDeadLettered(deadLettered) ? "[red]FAILED, dead-lettered[/]"
                : row.CompletionUnpublished ? "[red]SUCCESS, completion not published[/]"
                : Markup.Escape(row.Status);
            table.AddRow(
                row.ExecutionId.ToString("D"),
                Markup.Escape(row.JobName),
                row.Stage,
                status,
                row.Attempt.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(LedgerCells.Reason(row.ClaimReason, row.ReplayRequestedBy)),
                LedgerCells.Records(row),
                LedgerCells.Window(row),
                row.Duration(now, staleAfter) is { } d ? $"{d.TotalSeconds:F2}s{(zombie ? ", then silent" : string.Empty)}" : "-",
                Markup.Escape(row.Error is { Length: > 60 } err ? err[..60] + "…" : row.Error ?? string.Empty));
        }

        AnsiConsole.Write(table);
        LedgerCells.WriteFootnotes(rows);
        if (rows.Any(r => r.Status == "FAILED" || (r.Error is { Length: > 60 })))
        {
            AnsiConsole.MarkupLine("[grey]fp runs --execution-id ID prints one execution whole: full errors, alerts raised, rejections[/]");
        }
    }
}
