using System.Text;
using System.Text.RegularExpressions;

namespace FinancialPipeline.Core.Storage;

/// <summary>Options of a listing, shaped like Google.Cloud.Storage.V1's <c>ListObjectsOptions</c>.</summary>
public sealed record ListObjectsOptions
{
    /// <summary>Only objects whose whole name matches this glob (GCS objects.list <c>matchGlob</c>); see <see cref="ObjectGlob"/>.</summary>
    public string? MatchGlob { get; init; }
}

/// <summary>
/// A Cloud Storage <c>matchGlob</c> pattern, matched against whole object names as objects.list does:
/// <c>*</c> any characters within one folder level, <c>**</c> any characters across levels (<c>a/**/b</c> also
/// matches <c>a/b</c>), <c>?</c> one character other than '/', <c>[abc]</c>, <c>[a-z]</c> and <c>[!abc]</c> one
/// character of (or not of) a set, <c>{x,y}</c> one of the comma-separated alternatives. Everything else is literal.
/// The filesystem store applies it locally, and the GCS adapter passes it to the service.
/// </summary>
public sealed class ObjectGlob
{
    private readonly Regex _regex;

    private ObjectGlob(string pattern, Regex regex)
    {
        Pattern = pattern;
        _regex = regex;
    }

    public string Pattern { get; }

    /// <summary>Parses <paramref name="pattern"/>; an empty pattern or an unclosed '[' or '{' is an <see cref="ArgumentException"/> naming it.</summary>
    public static ObjectGlob Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.Length == 0)
        {
            throw new ArgumentException("matchGlob must not be empty", nameof(pattern));
        }

        var regex = new StringBuilder("^");
        var index = 0;
        Translate(pattern, ref index, regex, insideBraces: false);
        regex.Append('$');
        return new ObjectGlob(pattern, new Regex(regex.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1)));
    }

    public bool IsMatch(string objectName) => _regex.IsMatch(objectName);

    public override string ToString() => Pattern;

    private static void Translate(string pattern, ref int i, StringBuilder regex, bool insideBraces)
    {
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (insideBraces && (c == ',' || c == '}'))
            {
                return;
            }

            switch (c)
            {
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                    var atLevelStart = i == 0 || pattern[i - 1] == '/';
                    if (atLevelStart && i + 2 < pattern.Length && pattern[i + 2] == '/')
                    {
                        regex.Append("(?:.*/)?"); // zero or more folder levels
                        i += 3;
                    }
                    else
                    {
                        regex.Append(".*");
                        i += 2;
                    }

                    break;
                case '*':
                    regex.Append("[^/]*");
                    i++;
                    break;
                case '?':
                    regex.Append("[^/]");
                    i++;
                    break;
                case '[':
                    i = CharacterClass(pattern, i, regex);
                    break;
                case '{':
                    i++;
                    regex.Append("(?:");
                    while (true)
                    {
                        Translate(pattern, ref i, regex, insideBraces: true);
                        if (i >= pattern.Length)
                        {
                            throw new ArgumentException($"matchGlob '{pattern}' has an unclosed '{{'", nameof(pattern));
                        }

                        if (pattern[i++] == '}')
                        {
                            break;
                        }

                        regex.Append('|');
                    }

                    regex.Append(')');
                    break;
                default:
                    regex.Append(Regex.Escape(c.ToString()));
                    i++;
                    break;
            }
        }
    }

    private static int CharacterClass(string pattern, int open, StringBuilder regex)
    {
        var i = open + 1;
        var negated = i < pattern.Length && pattern[i] == '!';
        if (negated)
        {
            i++;
        }

        var members = new StringBuilder();
        var first = true;
        while (i < pattern.Length && (pattern[i] != ']' || first))
        {
            var c = pattern[i];
            var range = c == '-' && !first && i + 1 < pattern.Length && pattern[i + 1] != ']';

            // Inside a .NET character class only \ ] [ ^ and - are special; anything else stays bare (escaped, d would be \d).
            members.Append(range || c is not ('\\' or ']' or '[' or '^' or '-') ? c.ToString() : "\\" + c);
            first = false;
            i++;
        }

        if (i >= pattern.Length)
        {
            throw new ArgumentException($"matchGlob '{pattern}' has an unclosed '['", nameof(pattern));
        }

        regex.Append(negated ? "(?!/)[^" : "[").Append(members).Append(']');
        return i + 1;
    }
}
