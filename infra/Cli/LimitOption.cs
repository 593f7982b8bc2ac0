using System.CommandLine;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>--limit</c> of the listing commands (runs, rejected, gold, quarantine): how many rows to show, at least 1. The
/// bound is checked by the parser, so it fails like every other usage error (exit 2, the error, where help is).
/// </summary>
internal static class LimitOption
{
    public static Option<int> Create(string description)
    {
        var limit = new Option<int>("--limit") { Description = description, DefaultValueFactory = _ => 20 };
        limit.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is var value and < 1)
            {
                result.AddError($"--limit must be at least 1, got {value}");
            }
        });
        return limit;
    }
}
