using System.Globalization;
using System.Text;

namespace FinancialPipeline.Core.Contracts;

/// <summary>
/// How a message payload from outside is shown to people (the operator CLI, alerts): strictly decoded, with control
/// characters as escapes so it cannot drive a terminal (ESC sequences), and cut on a character boundary.
/// </summary>
public static class PayloadText
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The payload as text, or null when it is not valid UTF-8.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> payload)
    {
        try
        {
            return StrictUtf8.GetString(payload);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>The start of the payload on one line: "(empty)", "(N bytes, not UTF-8)" or its printable text.</summary>
    public static string Preview(ReadOnlySpan<byte> payload, int maxChars)
    {
        if (payload.IsEmpty)
        {
            return "(empty)";
        }

        return TryDecode(payload) is { } text
            ? Printable(text, maxChars, keepLineBreaks: false)
            : string.Create(CultureInfo.InvariantCulture, $"({payload.Length} bytes, not UTF-8)");
    }

    /// <summary>
    /// <paramref name="text"/> with control characters as escapes (<c>\n</c>, <c>\u001b</c>…), line breaks and tabs kept
    /// when <paramref name="keepLineBreaks"/>, cut after <paramref name="maxChars"/> UTF-16 units with "…".
    /// </summary>
    public static string Printable(string text, int maxChars, bool keepLineBreaks)
    {
        var printable = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            if (printable.Length >= maxChars)
            {
                return printable.Append('…').ToString();
            }

            _ = rune.Value switch
            {
                '\n' or '\t' when keepLineBreaks => printable.Append((char)rune.Value),
                '\n' => printable.Append("\\n"),
                '\r' => printable.Append("\\r"),
                '\t' => printable.Append("\\t"),
                _ when Rune.IsControl(rune) => printable.Append(CultureInfo.InvariantCulture, $"\\u{rune.Value:x4}"),
                _ => printable.Append(rune.ToString()),
            };
        }

        return printable.ToString();
    }
}
