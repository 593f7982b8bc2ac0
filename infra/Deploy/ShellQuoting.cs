using System.Text;
using System.Text.RegularExpressions;

namespace FinancialPipeline.Deploy;

/// <summary>
/// The one quoting rule of the generated script. A word is either plain text (single-quoted unless it is made
/// of characters the shell never interprets) or contains references made with <see cref="Variable"/>, which are
/// expanded inside double quotes and nothing else is.
/// </summary>
public static partial class ShellQuoting
{
    private const char Open = '\u001e';
    private const char Close = '\u001f';

    /// <summary>A reference to a variable the script assigned earlier (e.g. the project number), for use inside a word.</summary>
    public static string Variable(string name)
    {
        if (!VariableName().IsMatch(name))
        {
            throw new ArgumentException($"'{name}' is not a valid shell variable name", nameof(name));
        }

        return $"{Open}{name}{Close}";
    }

    public static bool ContainsMarker(string text) => text.Contains(Open, StringComparison.Ordinal) || text.Contains(Close, StringComparison.Ordinal);

    /// <summary>The word as a reader sees it: references shown as <c>${NAME}</c>.</summary>
    public static string Display(string word) => word.Replace(Open.ToString(), "${", StringComparison.Ordinal).Replace(Close.ToString(), "}", StringComparison.Ordinal);

    /// <summary>The word as bash source that expands to exactly the text, with references expanded.</summary>
    public static string Quote(string word)
    {
        if (word.Length == 0)
        {
            return "''";
        }

        var result = new StringBuilder();
        var position = 0;
        while (position < word.Length)
        {
            var open = word.IndexOf(Open, position);
            if (open < 0)
            {
                result.Append(QuoteLiteral(word[position..]));
                break;
            }

            var close = word.IndexOf(Close, open);
            if (close < 0)
            {
                throw new ArgumentException("unterminated variable reference", nameof(word));
            }

            if (open > position)
            {
                result.Append(QuoteLiteral(word[position..open]));
            }

            result.Append("\"${").Append(word, open + 1, close - open - 1).Append("}\"");
            position = close + 1;
        }

        return result.ToString();
    }

    private static string QuoteLiteral(string text) =>
        SafeWord().IsMatch(text) ? text : "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [GeneratedRegex("^[A-Za-z0-9_./:=@%+,-]+$")]
    private static partial Regex SafeWord();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariableName();
}
