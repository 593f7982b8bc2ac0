using System.CommandLine;
using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Deploy;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp prune</c>: the control database's retention. Counts, or with <c>--apply</c> deletes, the executions, replaced
/// attempts, rejected messages and alerts untouched for <c>--older-than-days</c> days (<see cref="LedgerRetention"/>).
/// Objects and the gold table are not touched: bronze objects go by the bucket lifecycle rule of <c>fp deploy apply --bronze-retention-days</c>.
/// </summary>
internal static class PruneCommand
{
    /// <summary>A day past the 7 days the pipeline's subscriptions keep a message, as <c>fp deploy apply --bronze-retention-days</c>: no redelivery or dead letter can name a pruned row.</summary>
    public static readonly int MinDays = (int)LedgerRetention.MinAge.TotalDays;

    public static Command Create()
    {
        var days = CheckedOptions.OptionalWholeNumber(
            "--older-than-days",
            $"Rows untouched for this many days go ({MinDays}-{DeploymentSettings.MaxBronzeRetentionDays}: past the {MinDays - 1} days the pipeline's subscriptions keep a message)",
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

        var retention = new LedgerRetention(env.DataSource, env.Operator.Time);
        var olderThan = TimeSpan.FromDays(days);
        var result = apply ? await retention.PruneAsync(olderThan, ct) : await retention.PlanAsync(olderThan, ct);
        Write(result, days, apply);
        return 0;
    }

    private static void Write(PruneResult result, int days, bool apply)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rows untouched since {result.Cutoff.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC ({days} days):"));
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
                $"kept: {kept.JobName}'s newest incremental bronze run {kept.ExecutionId:D} (window end {kept.WindowEnd.UtcDateTime:yyyy-MM-dd HH:mm} UTC), with its alerts and rejections: the job's next window continues from it"));
        }

        Console.WriteLine(apply
            ? "objects and the gold table are not pruned: bronze objects go by the lifecycle rule of fp deploy apply --bronze-retention-days"
            : "dry run: nothing deleted; --apply deletes these");
    }

    private static string Count(FormattableString text) => Markup.Escape(text.ToString(CultureInfo.InvariantCulture));
}
