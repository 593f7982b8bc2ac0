using System.CommandLine;
using FinancialPipeline.Cli;

if (Console.IsOutputRedirected)
{
    // Spectre assumes 80 columns when stdout is not a terminal; a file or a pipe should get unwrapped tables.
    Spectre.Console.AnsiConsole.Profile.Width = 240;
}

var root = new RootCommand("fp — operator CLI of FinancialPipeline");
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(UpCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(DeployCommand.Create());
root.Subcommands.Add(PublishCommand.Create());
root.Subcommands.Add(RunsCommand.Create());
root.Subcommands.Add(RejectedCommand.Create());
root.Subcommands.Add(ReplayCommand.Create());
root.Subcommands.Add(BackfillCommand.Create());
// Ctrl+C / SIGTERM cancel the command's token; the stack's orderly stop (hosts, topology, emulator, PostgreSQL) needs
// more than System.CommandLine's default 2 s before it gives up waiting and the process exits.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });
