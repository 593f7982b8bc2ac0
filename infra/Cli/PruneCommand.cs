using System.CommandLine;
using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Deploy;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp prune</c>: the control database's retention. Counts, or with <c>--apply</c> deletes, the executions, replaced
/// attempts, rejected messages and alerts untouched for <c>--older-than-days</c> days (<see cref="LedgerRetention"/>).
/// Objects and the gold table are not touched: bronze objects go by the bucket lifecycle rule of <c>fp deploy --bronze-retention-days</c>.
/// </summary>
internal static class PruneCommand
{
    /// <summary>The same bounds as <c>fp deploy --bronze-retention-days</c>: a day past the longest Pub/Sub keeps a message, so no redelivery or dead letter can name a pruned row.</summary>
    public static readonly int MinDays = DeploymentSettings.MinBronzeRetentionDays;

    public static Command Create()
    {
        var days = CheckedOptions.OptionalWholeNumber(
            "--older-than-days",
            $"Rows untouched for this many days go ({MinDays}-{DeploymentSettings.MaxBronzeRetentionDays}: past Pub/Sub's {MinDays - 1}-day message retention)",
            MinDays,
            "a whole number of days",
            DeploymentSettings.MaxBronzeRetentionDays);
        days.Required = true;
        var apply = new Option<bool>("--apply") { Description = "Delete them (without it, only count what would go)" };
        var command = new Command(
            "prune",
            "Retention of the control database: executions, replaced attempts, rejected messages and alerts older than the cutoff (each job's newest incremental bronze run stays)");
        command.Options.Add(days);
        command.Options.Add(apply);
        command.SetAction((parse, ct) => ExecuteAsync(parse.GetValue(days)!.Value, parse.GetValue(apply), ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(int days, bool apply, CancellationToken ct)
    {
        await using var env = OperatorEnvironment.TryCreate("prune");
        if (env is null)
        {
            return 2;
        }

        var cutoff = env.Operator.Time.GetUtcNow().AddDays(-days);
        var retention = new LedgerRetention(env.DataSource);
        var result = apply ? await retention.PruneAsync(cutoff, ct) : await retention.PlanAsync(cutoff, ct);
        Write(result, cutoff, days, apply);
        return 0;
    }

    private static void Write(PruneResult result, DateTimeOffset cutoff, int days, bool apply)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rows untouched since {cutoff.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC ({days} days):"));
        var table = new Table();
        table.AddColumns("table", apply ? "deleted" : "would delete");
        table.AddRow("ingestion_job_execution", Count($"{result.LedgerRows} rows ({result.Executions} executions)"));
        table.AddRow("ingestion_job_attempt", Count($"{result.Attempts}"));
        table.AddRow("rejected_message", Count($"{result.RejectedMessages}"));
        table.AddRow("alert_notification", Count($"{result.Alerts}"));
        AnsiConsole.Write(table);
        foreach (var kept in result.Kept)
        {
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"kept: {kept.JobName}'s newest incremental bronze run {kept.ExecutionId:D} (window end {kept.WindowEnd.UtcDateTime:yyyy-MM-dd HH:mm} UTC): the job's next window starts from it"));
        }

        Console.WriteLine(apply
            ? "objects and the gold table are not pruned: bronze objects go by the lifecycle rule of fp deploy --bronze-retention-days"
            : "dry run: nothing deleted; --apply deletes these");
    }

    private static string Count(FormattableString text) => Markup.Escape(text.ToString(CultureInfo.InvariantCulture));
}
