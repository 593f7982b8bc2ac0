using System.CommandLine;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>--execution-id</c>, the same for every command that takes one: a value that is not a UUID is refused with a
/// sentence naming the option, not with System.CommandLine's "as expected type System.Nullable`1[System.Guid]".
/// </summary>
internal static class ExecutionIdOption
{
    public static Option<Guid?> Create(string description, bool required = false) => new("--execution-id")
    {
        Description = description,
        Required = required,
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));
            if (Guid.TryParse(text, out var id))
            {
                if (id != Guid.Empty)
                {
                    return id;
                }

                // The functions reject the nil UUID: publishing it would report success for a message they drop.
                result.AddError("--execution-id must not be the nil UUID 00000000-0000-0000-0000-000000000000");
                return null;
            }

            result.AddError($"--execution-id '{text}' is not a UUID (for example 6f0e8d7c-1111-4222-8333-944455556666)");
            return null;
        },
    };
}
