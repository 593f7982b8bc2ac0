using System.CommandLine;
using FinancialPipeline.Cli;

var root = new RootCommand("fp — operator CLI of FinancialPipeline");
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(DeployCommand.Create());
root.Subcommands.Add(PublishCommand.Create());
root.Subcommands.Add(RunsCommand.Create());
root.Subcommands.Add(ReplayCommand.Create());
root.Subcommands.Add(BackfillCommand.Create());
return await root.Parse(args).InvokeAsync();
