using System.CommandLine;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>--limit</c> of the listing commands (runs, rejected, gold, quarantine): how many rows to show, at least 1. The
/// value is checked by the parser, so it fails like every other usage error (exit 2, the error, where help is).
/// </summary>
internal static class LimitOption
{
    public static Option<int> Create(string description) => CheckedOptions.WholeNumber("--limit", description, defaultValue: 20, min: 1);
}
