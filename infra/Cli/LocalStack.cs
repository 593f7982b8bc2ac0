using System.CommandLine;
using System.Diagnostics;
using FinancialPipeline.DevServices;
using FinancialPipeline.Stages;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>The local stack of <c>fp run</c> and <c>fp up</c>: started, handed to the command, stopped whatever happens.</summary>
internal static class LocalStack
{
    /// <summary>The exit code of a command stopped by Ctrl+C or SIGTERM (the shell's 128 + SIGINT).</summary>
    public const int Interrupted = 130;

    /// <summary>Where the stack keeps its buckets and DuckDB file: <c>--data-dir</c>, else FP_DATA_DIR, else ./.fp.</summary>
    public static Option<string> DataDirectoryOption() => new Option<string>("--data-dir")
    {
        Description = "Local buckets and DuckDB (default FP_DATA_DIR or ./.fp)",
        DefaultValueFactory = _ => PipelineSettings.DataDirectoryFrom(Environment.GetEnvironmentVariable("FP_DATA_DIR")) ?? ".fp",
    }.NotBlank();

    /// <summary>
    /// Runs <paramref name="body"/> against a started stack; exit code 2 if the stack cannot start, or if the data
    /// directory is not one or another stack holds it (checked before anything starts, held until the stack stops).
    /// </summary>
    public static async Task<int> RunAsync(string command, LocalPipelineOptions options, Func<LocalPipeline, Task<int>> body, CancellationToken ct)
    {
        // The function hosts' variables are checked first, as a function host checks them: a malformed one is refused
        // before anything starts, and those used here (topic prefix, project, heartbeat, zombie threshold…) are applied.
        if (LocalStackSettings.TryApply(command, options) is not { } configured)
        {
            return 2;
        }

        options = configured;
        using var dataDirectory = DataDirectoryLock.TryAcquire(command, options.DataDirectory);
        if (dataDirectory is null)
        {
            return 2;
        }

        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        var clock = Stopwatch.StartNew();
        var starting = Services(
            string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("FP_POSTGRES_CONNECTION")),
            string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("PUBSUB_EMULATOR_HOST")));
        AnsiConsole.MarkupLine(starting.Count == 0
            ? "[grey]using the given PostgreSQL and Pub/Sub emulator…[/]"
            : $"[grey]starting {Phrase(starting)}…[/]");
        LocalInfrastructure infra;
        try
        {
            infra = await LocalInfrastructure.StartAsync(loggers, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine($"fp {command}: interrupted while starting; what had started is stopped");
            return Interrupted;
        }
        catch (Exception ex) when (OperatorFailures.Describe(ex) is { } failure)
        {
            // A configured PostgreSQL or emulator that cannot be reached: the environment, exit 1 as for every command.
            Console.Error.WriteLine($"fp {command}: could not start the local stack: {failure}");
            return 1;
        }
        catch (InvalidOperationException ex)
        {
            // A malformed setting, or what the stack needs missing from this machine (PostgreSQL's binaries, gcloud).
            Console.Error.WriteLine($"fp {command}: could not start the local stack: {ex.Message}");
            return 2;
        }

        await using (infra)
        {
            LocalPipeline? pipeline = null;
            try
            {
                pipeline = await LocalPipeline.StartAsync(infra, options, ct);
                AnsiConsole.MarkupLine($"[grey]stack up in {clock.Elapsed.TotalSeconds:F1}s: postgres, emulator {infra.EmulatorHost}, functions {string.Join(", ", pipeline.HostAddresses)}[/]");
                return await body(pipeline);
            }
            catch (InvalidOperationException ex) when (pipeline is null)
            {
                // A host that cannot start for a setting (their variables are checked before anything starts; this is the rest).
                Console.Error.WriteLine($"fp {command}: could not start the function hosts: {ex.Message}");
                return 2;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine($"fp {command}: interrupted; stopping everything it started");
                return Interrupted;
            }
            finally
            {
                if (pipeline is not null)
                {
                    await pipeline.DisposeAsync();
                }
            }
        }
    }

    /// <summary>What <c>fp up</c> says it stops: the function hosts and whichever services it started itself.</summary>
    public static string Stopping(LocalInfrastructure infrastructure) =>
        Phrase(["the function hosts", .. Services(infrastructure.StartedPostgres, infrastructure.StartedEmulator)]);

    private static List<string> Services(bool postgres, bool emulator)
    {
        var services = new List<string>();
        if (postgres)
        {
            services.Add("PostgreSQL");
        }

        if (emulator)
        {
            services.Add("the Pub/Sub emulator");
        }

        return services;
    }

    /// <summary>"a", "a and b", "a, b and c".</summary>
    private static string Phrase(IReadOnlyList<string> items) =>
        items.Count == 1 ? items[0] : $"{string.Join(", ", items.Take(items.Count - 1))} and {items[^1]}";
}
