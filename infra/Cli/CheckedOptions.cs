using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Cli;

/// <summary>
/// Options whose bad values the parser refuses in one sentence naming the option and the value, so they fail like
/// every other usage error (exit 2, the error, where help is): not with System.CommandLine's type names or its
/// several-line list of choices, and never with a conversion that throws out of a validator (a stack trace, exit 134).
/// </summary>
internal static class CheckedOptions
{
    /// <summary>A whole number of at least <paramref name="min"/> and at most <paramref name="max"/>; <paramref name="defaultValue"/> when not given.</summary>
    /// <param name="what">What the value must be, said when it is not a number ("a whole number of seconds").</param>
    public static Option<int> WholeNumber(string name, string description, int defaultValue, int min, int max = int.MaxValue, string what = "a whole number") => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => Parse(result, name, min, what, max, rule: null),
    };

    /// <summary>A whole number of at least <paramref name="min"/> and at most <paramref name="max"/> (default: the type's); null when not given.</summary>
    /// <param name="what">What the value must be, said when it is not a number ("a whole number of seconds").</param>
    /// <param name="rule">
    /// The rule the bounds come from ("between 60 and 604800 seconds"), said for any value outside them, however far:
    /// the type's range is not the rule, and a bound the rule does not state would be refused twice.
    /// </param>
    public static Option<T?> OptionalWholeNumber<T>(string name, string description, T min, string what = "a whole number", T? max = null, string? rule = null)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> => new(name)
    {
        Description = description,
        CustomParser = result => Parse(result, name, min, what, max ?? T.MaxValue, rule),
    };

    /// <summary>Refuses a value that is empty or only white space (a given one: the default is not checked).</summary>
    public static T NotBlank<T>(this T option)
        where T : Option
    {
        option.Validators.Add(result =>
        {
            // The tokens, not the value: converting a value another check refuses would throw.
            if (!result.Implicit && result.Tokens.All(t => string.IsNullOrWhiteSpace(t.Value)))
            {
                result.AddError($"{option.Name} must not be empty");
            }
        });
        return option;
    }

    /// <summary>Refuses a given value that is not a job name (<see cref="StartMessage.ValidJobName"/>), before anything is connected to or started.</summary>
    public static T JobName<T>(this T option)
        where T : Option
    {
        option.Validators.Add(result =>
        {
            if (result.Implicit)
            {
                return; // the default, a valid name
            }

            try
            {
                StartMessage.ValidJobName(string.Join(' ', result.Tokens.Select(t => t.Value)));
            }
            catch (MessageRejectedException ex)
            {
                result.AddError($"{option.Name} {ex.Reason}");
            }
        });
        return option;
    }

    /// <summary>Accepts only one of <paramref name="allowed"/> (exactly), refusing anything else naming the option and the value.</summary>
    public static T OneOf<T>(this T option, params string[] allowed)
        where T : Option
    {
        option.CompletionSources.Add(allowed);
        option.Validators.Add(result =>
        {
            var text = string.Join(' ', result.Tokens.Select(t => t.Value));
            if (!result.Implicit && !allowed.Contains(text, StringComparer.Ordinal))
            {
                var choices = allowed.Length == 1 ? allowed[0] : $"{string.Join(", ", allowed[..^1])} or {allowed[^1]}";
                result.AddError($"{option.Name} '{text}' must be {choices}");
            }
        });
        return option;
    }

    private static T Parse<T>(ArgumentResult result, string name, T min, string what, T max, string? rule)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
    {
        var text = string.Join(' ', result.Tokens.Select(t => t.Value));
        var parsed = T.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value);
        var big = BigInteger.Zero;
        var whole = parsed || BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out big);
        if (rule is not null && whole && (!parsed || value < min || value > max))
        {
            result.AddError($"{name} '{text}' must be {rule}");
            return default;
        }

        if (!parsed)
        {
            result.AddError(whole
                ? big.Sign > 0 ? $"{name} '{text}' must be at most {max}" : $"{name} must be at least {min}, got {text}"
                : $"{name} '{text}' must be {what}");
            return default;
        }

        if (value < min)
        {
            result.AddError($"{name} must be at least {min}, got {value}");
        }
        else if (value > max)
        {
            result.AddError($"{name} '{text}' must be at most {max}");
        }

        return value;
    }
}
