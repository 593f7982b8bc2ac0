using System.CommandLine;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;

namespace FinancialPipeline.Cli;

/// <summary><c>fp publish</c>: one start message, as the Airflow DAG sends it (a new execution id unless given).</summary>
internal static class PublishCommand
{
    public static Command Create()
    {
        var job = new Option<string>("--job") { Description = "Job name", DefaultValueFactory = _ => "financial_extract" }.JobName();
        var executionId = ExecutionIdOption.Create("Execution id to (re)use; new when omitted");
        var from = UtcTimeOption.Create("--from", "Explicit (backfill) window start, UTC (2026-11-20 is midnight UTC)");
        var to = UtcTimeOption.Create("--to", "Explicit (backfill) window end, UTC (exclusive)");
        var command = new Command("publish", "Publish a start message to the start topic");
        command.Options.Add(job);
        command.Options.Add(executionId);
        command.Options.Add(from);
        command.Options.Add(to);
        command.SetAction((parse, ct) => ExecuteAsync(parse.GetValue(job)!, parse.GetValue(executionId), parse.GetValue(from), parse.GetValue(to), ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(string jobName, Guid? executionId, DateTimeOffset? from, DateTimeOffset? to, CancellationToken ct)
    {
        if (from.HasValue != to.HasValue || (from is { } f && to is { } t && t <= f))
        {
            Console.Error.WriteLine("fp publish: --from and --to go together, and --to must be after --from");
            return 2;
        }

        await using var env = OperatorEnvironment.TryCreate("publish");
        if (env is null)
        {
            return 2;
        }

        try
        {
            var window = from is { } s && to is { } e ? new TimeWindow(s, e) : (TimeWindow?)null;
            if (await RefusalAsync(env, jobName, executionId, window, ct) is { } refusal)
            {
                Console.Error.WriteLine($"fp publish: {refusal}");
                return 2;
            }

            var (message, id) = await env.Operator.PublishStartAsync(jobName, executionId, window, ct);
            Console.WriteLine($"published execution {message.ExecutionId} of {message.JobName} to {env.Operator.Topics.Start} (message {id})");
            Console.WriteLine(message.ToString());
            return 0;
        }
        catch (MessageRejectedException ex)
        {
            Console.Error.WriteLine($"fp publish: {ex.Message}");
            return 1;
        }
        catch (JobConfigException ex)
        {
            // A provider this build does not register (the row passed the config rules): refused, not a stack trace.
            Console.Error.WriteLine($"fp publish: {ex.Message}");
            return 2;
        }
    }

    /// <summary>
    /// Why the message would be refused or would fail, checked before it is published: an operator hears it now, not
    /// from <c>fp rejected</c> or a dead-letter alert later; an execution id the ledger holds under another job is
    /// refused too. Null when it can go. Notes on a window the function will clamp, and on an execution that already
    /// ran, are printed. <c>gcloud pubsub topics publish</c> skips all of it.
    /// </summary>
    private static async Task<string?> RefusalAsync(OperatorEnvironment env, string jobName, Guid? executionId, TimeWindow? window, CancellationToken ct)
    {
        var (job, refusal) = await StartChecks.FindRunnableJobAsync(env.DataSource, jobName, ct);
        if (job is null)
        {
            return refusal;
        }

        if (window is { } requested)
        {
            var (plan, windowRefusal) = StartChecks.CheckWindow(job, env.ProviderFor(job), requested, env.Operator.Time.GetUtcNow());
            if (plan is null)
            {
                return windowRefusal;
            }

            if (plan.Note is { } note)
            {
                Console.WriteLine($"note: {note}");
            }
        }

        if (executionId is not { } id)
        {
            return null;
        }

        var stages = await env.Operator.Ledger.ListAsync(id, ct);
        if (stages.FirstOrDefault(r => r.JobName != jobName) is { } others)
        {
            // The ledger is keyed by (execution_id, stage): the stages would find that job's rows, never run this one.
            return $"execution {id:D} belongs to job '{others.JobName}', not '{jobName}': its stages would re-emit or retry that job's work and never run '{jobName}' (omit --execution-id for a new execution)";
        }

        if (stages.Any(r => r.Status == "SUCCESS"))
        {
            Console.WriteLine($"note: execution {id:D} already has successful stages: they re-emit their stored events and do not run again (fp replay re-runs a stage)");
        }

        return null;
    }
}
