using System.CommandLine;
using FinancialPipeline.Core.Contracts;
using Npgsql;

namespace FinancialPipeline.Cli;

/// <summary><c>fp publish</c>: one start message, as the Airflow DAG sends it (a new execution id unless given).</summary>
internal static class PublishCommand
{
    public static Command Create()
    {
        var job = new Option<string>("--job") { Description = "Job name", DefaultValueFactory = _ => "financial_extract" };
        var executionId = new Option<Guid?>("--execution-id") { Description = "Execution id to (re)use; new when omitted" };
        var from = new Option<DateTimeOffset?>("--from") { Description = "Explicit (backfill) window start, UTC" };
        var to = new Option<DateTimeOffset?>("--to") { Description = "Explicit (backfill) window end, UTC" };
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
            var window = from is { } s && to is { } e ? new TimeWindow(s.ToUniversalTime(), e.ToUniversalTime()) : (TimeWindow?)null;
            var (message, id) = await env.Operator.PublishStartAsync(jobName, executionId, window, ct);
            Console.WriteLine($"published execution {message.ExecutionId} of {message.JobName} to {env.Operator.Topics.Start} (message {id})");
            Console.WriteLine(message.ToString());
            return 0;
        }
        catch (Exception ex) when (ex is MessageRejectedException or HttpRequestException or NpgsqlException)
        {
            Console.Error.WriteLine($"fp publish: {ex.Message}");
            return 1;
        }
    }
}
