using System.Text;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// Text from outside made storable in PostgreSQL: <c>text</c> and <c>varchar</c> refuse the NUL character (SQLSTATE
/// 22021), <c>jsonb</c> refuses <c>\u0000</c> and unpaired surrogates, and System.Text.Json refuses to write unpaired
/// surrogates. A rejection or an error that could not be stored would answer 500 and loop a poison message into the
/// dead-letter topic, so each such character is replaced: NUL by the six characters <c>\u0000</c>, an unpaired
/// surrogate by U+FFFD. Cut to a length, never inside a surrogate pair.
/// </summary>
public static class StorableText
{
    public static string Of(string value, int maxChars = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length <= maxChars && !NeedsRepair(value))
        {
            return value;
        }

        var text = new StringBuilder(Math.Min(value.Length, maxChars));
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            string piece = c switch
            {
                '\0' => "\\u0000",
                _ when char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]) => value.Substring(i, 2),
                _ when char.IsSurrogate(c) => "\uFFFD",
                _ => c.ToString(),
            };
            if (text.Length + piece.Length > maxChars)
            {
                break;
            }

            text.Append(piece);
            i += piece.Length == 2 && char.IsHighSurrogate(piece[0]) ? 1 : 0;
        }

        return text.ToString();
    }

    public static string? OfNullable(string? value, int maxChars = int.MaxValue) => value is null ? null : Of(value, maxChars);

    private static bool NeedsRepair(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\0' || char.IsLowSurrogate(c))
            {
                return true;
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return true;
                }

                i++;
            }
        }

        return false;
    }
}
