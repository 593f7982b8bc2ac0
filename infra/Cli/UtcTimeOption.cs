using System.CommandLine;
using System.Globalization;

namespace FinancialPipeline.Cli;

/// <summary>
/// A point in time on the command line, read as UTC whatever the operator's time zone: <c>2026-11-20</c> is midnight
/// UTC, <c>2026-11-20T13:00</c> 13:00 UTC, and a time with an explicit offset is converted. System.CommandLine's own
/// parsing reads a time without an offset in the machine's zone, so from São Paulo a "UTC" window moved by three hours.
/// </summary>
internal static class UtcTimeOption
{
    /// <summary>
    /// ISO 8601 dates and date-times only (K: Z, an offset, or none, read as UTC; the fraction is optional). The BCL's
    /// lenient parse took <c>10:00</c> as 10:00 on the machine's current date and <c>01/02/2026</c> month first. Wider
    /// than a message's RFC 3339 on purpose: an operator types <c>2026-11-20</c> or <c>2026-11-20T13:00</c>, and
    /// fp writes the message in RFC 3339 itself.
    /// </summary>
    private static readonly string[] Formats =
    [
        "yyyy'-'MM'-'dd", "yyyy'-'MM'-'dd'T'HH':'mmK", "yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFFK",
    ];

    public static Option<DateTimeOffset?> Create(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            var text = string.Join(' ', result.Tokens.Select(t => t.Value));
            if (DateTimeOffset.TryParseExact(text, Formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
            {
                return at;
            }

            result.AddError($"{name} '{text}' is not a UTC date or time (for example 2026-11-20 or 2026-11-20T13:00:00Z)");
            return null;
        },
    };
}
