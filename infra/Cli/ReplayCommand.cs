using System.CommandLine;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Cli;

/// <summary><c>fp replay</c>: re-runs one stage of an execution and the stages after it.</summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var executionId = ExecutionIdOption.Create("Execution to replay", required: true);
        var stage = new Option<string>("--stage") { Description = "bronze, silver or gold: this stage and the later ones re-run", Required = true };
        var who = new Option<string>("--by") { Description = "Who asks (recorded in the ledger)", DefaultValueFactory = _ => Environment.UserName }.NotBlank();
        var command = new Command("replay", "Reset a stage (and the later ones) of an execution and republish its trigger event");
        command.Options.Add(executionId);
        command.Options.Add(stage);
        command.Options.Add(who);
        command.SetAction((parse, ct) => ExecuteAsync(parse.GetValue(executionId)!.Value, parse.GetValue(stage)!, parse.GetValue(who)!, ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(Guid executionId, string stageName, string who, CancellationToken ct)
    {
        if (!StageNames.TryParse(stageName, out var stage))
        {
            Console.Error.WriteLine($"fp replay: --stage '{stageName}' must be bronze, silver or gold");
            return 2;
        }

        await using var env = OperatorEnvironment.TryCreate("replay");
        if (env is null)
        {
            return 2;
        }

        try
        {
            // A backfill's window is checked as fp publish checks one: the job or its provider may have changed since.
            var result = await env.Operator.ReplayAsync(executionId, stage, who, ct, async (jobName, window, token) =>
            {
                var (job, refusal) = await StartChecks.FindRunnableJobAsync(env.DataSource, jobName, token);
                return job is null ? refusal : StartChecks.CheckWindow(job, env.ProviderFor(job), window, env.Operator.Time.GetUtcNow()).Refusal;
            });
            Console.WriteLine($"reset {string.Join(", ", result.ResetStages)} of {executionId}; republished the trigger to {result.Topic} (message {result.MessageId})");
            return 0;
        }
        catch (ReplayRefusedException ex)
        {
            Console.Error.WriteLine($"fp replay: refused: {ex.Message}");
            return 1;
        }
        catch (MessageRejectedException ex)
        {
            Console.Error.WriteLine($"fp replay: {ex.Message}");
            return 1;
        }
    }
}
