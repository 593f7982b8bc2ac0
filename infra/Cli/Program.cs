using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;
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
root.Subcommands.Add(JobsCommand.Create());
root.Subcommands.Add(PublishCommand.Create());
root.Subcommands.Add(RunsCommand.Create());
root.Subcommands.Add(RejectedCommand.Create());
root.Subcommands.Add(ReplayCommand.Create());
root.Subcommands.Add(BackfillCommand.Create());
root.Subcommands.Add(GoldCommand.Create());
root.Subcommands.Add(QuarantineCommand.Create());
root.Subcommands.Add(PruneCommand.Create());
// Ctrl+C / SIGTERM cancel the command's token, and the command stops what it started (hosts, topology, emulator,
// PostgreSQL). Registered here, before any command runs: System.CommandLine installs its own handler only once the
// command has begun, and a SIGTERM in between killed fp with initdb and the emulator's JVM left running. A second
// signal ends fp at once, through Environment.Exit: left to the runtime it would kill fp without running the process
// exit handlers that stop PostgreSQL, initdb and the emulator and remove the cluster's directory.
using var terminate = new CancellationTokenSource();
using var onSigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnTerminationSignal);
using var onSigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnTerminationSignal);
ParseResult parsed;
try
{
    parsed = root.Parse(args);
}
catch (Exception ex)
{
    return Unexpected("fp", ex);
}

if (parsed.Errors.Count > 0)
{
    // A usage error exits 2, as the commands' own argument checks do, with the errors and where help is; the full
    // help text System.CommandLine would print buries the one line that matters.
    foreach (var error in TrueErrors(parsed, args))
    {
        Console.Error.WriteLine($"fp: {error}");
    }

    var command = parsed.CommandResult.Command;
    Console.Error.WriteLine($"{CommandPath(parsed)} --help lists the {(command.Subcommands.Count > 0 && command.Action is null ? "commands" : "options")}");
    return 2;
}

try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }, terminate.Token);
}
catch (Exception ex) when (OperatorFailures.Describe(ex) is { } reason)
{
    // What the operator's environment got wrong (no credentials, a service unreachable): one line, no stack trace.
    Console.Error.WriteLine($"fp {parsed.CommandResult.Command.Name}: {reason}");
    return 1;
}
catch (OperationCanceledException) when (terminate.IsCancellationRequested)
{
    return 130;
}
catch (Exception ex)
{
    return Unexpected(CommandPath(parsed), ex);
}

// The last resort for what no command expected (input no check caught, a bug): one line and exit 1, not the runtime's
// stack trace and an abort (134). The line names the exception's type, enough to find where it came from.
static int Unexpected(string command, Exception ex)
{
    Console.Error.WriteLine($"{command}: failed: {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
    return 1;
}

// The parse errors worth saying. "Required command was not provided" is dropped when a token was not recognized: a
// command was given, misspelt (fp nosuchcmd). So is an unrecognized token right after an unrecognized option: it is
// that option's value (fp jobs set --bogus 1), not a second mistake.
static IEnumerable<string> TrueErrors(ParseResult parsed, string[] args)
{
    var unmatched = parsed.UnmatchedTokens.ToHashSet(StringComparer.Ordinal);
    var values = args.Skip(1).Where((arg, i) => unmatched.Contains(arg) && unmatched.Contains(args[i]) && args[i].StartsWith('-') && !arg.StartsWith('-'))
        .ToHashSet(StringComparer.Ordinal);
    // System.CommandLine's own (localized) messages, as it words them: a command without its subcommand, a stray token.
    var parent = new RootCommand();
    parent.Subcommands.Add(new Command("child"));
    var dropped = values.Select(value => FirstError(new RootCommand(), value)).ToHashSet(StringComparer.Ordinal);
    if (unmatched.Count > 0)
    {
        dropped.Add(FirstError(parent));
    }

    return parsed.Errors.Select(e => e.Message).Distinct(StringComparer.Ordinal).Where(message => !dropped.Contains(message));
}

static string FirstError(RootCommand command, params string[] args) => command.Parse(args).Errors.Select(e => e.Message).FirstOrDefault() ?? string.Empty;

// "fp jobs set": the command as typed, without its options.
static string CommandPath(ParseResult parsed)
{
    var path = new List<string>();
    for (var result = parsed.CommandResult; result.Parent is CommandResult parent; result = parent)
    {
        path.Insert(0, result.Command.Name);
    }

    return string.Join(' ', path.Prepend("fp"));
}

void OnTerminationSignal(PosixSignalContext context)
{
    context.Cancel = true;
    if (!terminate.IsCancellationRequested)
    {
        terminate.Cancel();
        return;
    }

    Console.Error.WriteLine("fp: second signal: stopping what it started and exiting at once");
    Environment.Exit(LocalStack.Interrupted);
}
