namespace FinancialPipeline.Deploy;

/// <summary>How the script runs a step's command.</summary>
public enum StepKind
{
    /// <summary>Run the command; it is idempotent (updates, IAM bindings).</summary>
    Run,

    /// <summary>Run the command only when <see cref="DeployStep.Check"/> fails (create what does not exist yet).</summary>
    CreateIfMissing,

    /// <summary>Assign the command's standard output to <see cref="DeployStep.Variable"/>.</summary>
    Capture,

    /// <summary>Stop the script with <see cref="DeployStep.FailureMessage"/> when the command fails (a prerequisite the operator must provide).</summary>
    Require,

    /// <summary>
    /// Only when <see cref="DeployStep.Check"/> fails: <see cref="DeployStep.Variable"/> gets a fresh random value
    /// (32 bytes of /dev/urandom as hex) that exists only at apply time, <see cref="DeployStep.Commands"/> run with
    /// it, and it is unset. The value never appears in the plan or in the script's output.
    /// </summary>
    GenerateSecretIfMissing,

    /// <summary>
    /// Write <see cref="DeployStep.Stdin"/> verbatim to a new temporary file whose path is in
    /// <see cref="DeployStep.Variable"/>, run the command (which names the file through that variable), and remove the
    /// file whether the command succeeded or not: for a command that reads a file by path and cannot read a pipe.
    /// </summary>
    RunWithInputFile,
}

/// <summary>
/// One command of a <see cref="StepKind.GenerateSecretIfMissing"/> step. <see cref="OrElse"/> runs when the command
/// fails (the command's own error output is then discarded); <see cref="Input"/> is one word, variable references
/// expanded, fed to the command's standard input.
/// </summary>
public sealed record ScriptCommand(IReadOnlyList<string> Argv)
{
    public IReadOnlyList<string>? OrElse { get; init; }

    public string? Input { get; init; }
}

/// <summary>One command of the deployment: an argv array and a short comment saying why.</summary>
public sealed record DeployStep(string Comment, StepKind Kind, IReadOnlyList<string> Command)
{
    public IReadOnlyList<string>? Check { get; init; }

    public string? Variable { get; init; }

    public string? FailureMessage { get; init; }

    /// <summary>
    /// Text fed to the command's standard input verbatim (a quoted here-document: nothing in it expands); for
    /// <see cref="StepKind.RunWithInputFile"/>, the content of its input file, written the same way.
    /// </summary>
    public string? Stdin { get; init; }

    /// <summary>The commands of a <see cref="StepKind.GenerateSecretIfMissing"/> step; <see cref="Command"/> is the first one's.</summary>
    public IReadOnlyList<ScriptCommand> Commands { get; init; } = [new ScriptCommand(Command)];

    public static DeployStep Run(string comment, params string[] command) => new(comment, StepKind.Run, command);

    public static DeployStep RunWithInput(string comment, string stdin, params string[] command) =>
        new(comment, StepKind.Run, command) { Stdin = stdin };

    /// <summary>A <see cref="StepKind.RunWithInputFile"/> step: <paramref name="command"/> names the file as <see cref="ShellQuoting.Variable"/>(<paramref name="variable"/>).</summary>
    public static DeployStep RunWithInputFile(string comment, string content, string variable, params string[] command)
    {
        var reference = ShellQuoting.Variable(variable); // refuses a name bash would not take as a variable
        if (!command.Any(word => word.Contains(reference, StringComparison.Ordinal)))
        {
            throw new ArgumentException($"the command does not name its input file ${{{variable}}}", nameof(command));
        }

        return new(comment, StepKind.RunWithInputFile, command) { Stdin = content, Variable = variable };
    }

    public static DeployStep CreateIfMissing(string comment, IReadOnlyList<string> check, params string[] command) =>
        new(comment, StepKind.CreateIfMissing, command) { Check = check };

    public static DeployStep Capture(string comment, string variable, params string[] command) =>
        new(comment, StepKind.Capture, command) { Variable = variable };

    public static DeployStep Require(string comment, string failureMessage, params string[] command) =>
        new(comment, StepKind.Require, command) { FailureMessage = failureMessage };

    public static DeployStep GenerateSecretIfMissing(string comment, IReadOnlyList<string> check, string variable, params ScriptCommand[] commands)
    {
        if (commands.Length == 0)
        {
            throw new ArgumentException("at least one command is needed", nameof(commands));
        }

        _ = ShellQuoting.Variable(variable); // refuses a name bash would not take as a variable
        return new(comment, StepKind.GenerateSecretIfMissing, commands[0].Argv) { Check = check, Variable = variable, Commands = commands };
    }

    /// <summary>The value of a <c>--name=value</c> argument, or null.</summary>
    public string? Flag(string name)
    {
        var prefix = name + "=";
        var match = Command.LastOrDefault(a => a.StartsWith(prefix, StringComparison.Ordinal));
        return match is null ? null : ShellQuoting.Display(match[prefix.Length..]);
    }

    public bool Has(string argument) => Command.Contains(argument);

    /// <summary>The command as a reader sees it (variable references shown as <c>${NAME}</c>).</summary>
    public string Text => string.Join(' ', Command.Select(ShellQuoting.Display));
}
