using System.CommandLine;
using System.Globalization;
using FinancialPipeline.DevServices;
using FinancialPipeline.Stages.Alerts;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp up</c>: the local stack of <c>fp run</c> (PostgreSQL, the Pub/Sub emulator, the function hosts, the topology),
/// kept up until Ctrl+C, SIGTERM or <c>--for</c> seconds. It prints the environment the operator commands and
/// <c>gcloud</c> need as <c>export</c> lines, so publishing, replays, backfills and zombie checks can be tried
/// locally from another shell. It stops everything it started when it exits.
/// </summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var dataDir = LocalStack.DataDirectoryOption();
        var duration = CheckedOptions.OptionalWholeNumber("--for", "Stop after this many seconds, at least 1 (default: until Ctrl+C or SIGTERM)", min: 1);
        var verbose = new Option<bool>("--verbose") { Description = "Function logs at Information (default Warning)" };
        var command = new Command("up", "Bring the local stack up and keep it up for the operator commands; Ctrl+C stops it");
        command.Options.Add(dataDir);
        command.Options.Add(duration);
        command.Options.Add(verbose);
        command.SetAction((parse, ct) => ExecuteAsync(
            parse.GetValue(dataDir)!,
            parse.GetValue(duration) is { } seconds ? TimeSpan.FromSeconds(seconds) : Timeout.InfiniteTimeSpan,
            parse.GetValue(verbose),
            ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(string dataDir, TimeSpan duration, bool verbose, CancellationToken ct)
    {
        var options = new LocalPipelineOptions { DataDirectory = dataDir, FunctionLogLevel = verbose ? LogLevel.Information : LogLevel.Warning };
        var exit = await LocalStack.RunAsync("up", options, pipeline => ServeAsync(pipeline, duration, ct), ct);
        if (exit == 0)
        {
            AnsiConsole.MarkupLine("[grey]stopped[/]");
        }

        return exit;
    }

    private static async Task<int> ServeAsync(LocalPipeline pipeline, TimeSpan duration, CancellationToken ct)
    {
        Console.WriteLine($"started processes {string.Join(", ", pipeline.Infrastructure.StartedProcessIds)}"); // PostgreSQL and the emulator, stopped on exit
        AnsiConsole.MarkupLine("[grey]in another shell, export these and use fp jobs / publish / runs / rejected / replay / backfill / gold / quarantine / prune, or gcloud (README, Operations):[/]");

        // Plain stdout lines; single quotes keep the connection string whole.
        foreach (var (name, value) in OperatorVariables(pipeline))
        {
            Console.WriteLine($"export {name}={AlertComposer.ShellQuote(value)}");
        }

        if (!pipeline.Infrastructure.StartedPostgres)
        {
            // The operator's own connection string may hold a password: not repeated; the other shell needs it too.
            Console.WriteLine("# FP_POSTGRES_CONNECTION: the one given to fp up (not repeated: it may hold a password); export it there too");
        }

        if (duration != Timeout.InfiniteTimeSpan)
        {
            AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"[grey]stops by itself after {duration.TotalSeconds:F0}s[/]"));
        }

        Console.WriteLine("fp up: ready (Ctrl+C or SIGTERM stops everything)"); // scripts wait for this exact line
        try
        {
            await Task.Delay(duration, ct);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM: the stack stops when this returns.
        }

        // Stopping fp up is its normal end, as --for is: exit 0 (a signal before it is ready exits 130).
        AnsiConsole.MarkupLine($"[grey]stopping {LocalStack.Stopping(pipeline.Infrastructure)}…[/]");
        return 0;
    }

    /// <summary>What the operator commands read (see OperatorEnvironment), set to this stack: the values its hosts use.</summary>
    private static IEnumerable<(string Name, string Value)> OperatorVariables(LocalPipeline pipeline)
    {
        if (pipeline.Infrastructure.StartedPostgres)
        {
            yield return ("FP_POSTGRES_CONNECTION", pipeline.Infrastructure.PostgresConnection);
        }
        yield return ("PUBSUB_EMULATOR_HOST", pipeline.Infrastructure.EmulatorHost);
        yield return ("FP_PROJECT_ID", pipeline.Settings.ProjectId);
        yield return ("FP_TOPIC_PREFIX", pipeline.Settings.TopicPrefix);
        yield return ("FP_STALE_AFTER_SECONDS", pipeline.Settings.StaleAfter.TotalSeconds.ToString(CultureInfo.InvariantCulture));
        yield return ("FP_DATA_DIR", pipeline.Settings.DataDirectory);
    }
}
