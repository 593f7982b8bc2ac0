namespace FinancialPipeline.Core.Storage;

/// <summary>
/// The one bucket-name rule, checked where a name comes in (job config rows) and again by each object store:
/// GCS's naming rules restricted to undotted-length names — 3–63 of a-z, 0-9, '-', '_' and '.', a letter or digit
/// at both ends, no "..", not starting with "goog", not containing "google" (or "g00gle"), not an IP address in
/// dotted-decimal form. On the filesystem store these names are also safe directory
/// names (no separator, no traversal).
/// </summary>
public static class BucketNames
{
    /// <summary>Null when <paramref name="bucket"/> is a valid name, otherwise what is wrong with it.</summary>
    public static string? Problem(string? bucket)
    {
        if (bucket is null || bucket.Length is < 3 or > 63)
        {
            return "is not a valid bucket name: it must be 3-63 characters long";
        }

        if (bucket.Any(c => !IsLowerAlphanumeric(c) && c is not ('-' or '_' or '.')))
        {
            return "is not a valid bucket name: it may hold only a-z, 0-9, '-', '_' and '.'";
        }

        if (!IsLowerAlphanumeric(bucket[0]) || !IsLowerAlphanumeric(bucket[^1]))
        {
            return "is not a valid bucket name: it must start and end with a letter or digit";
        }

        if (bucket.Contains("..", StringComparison.Ordinal))
        {
            return "is not a valid bucket name: it must not contain '..'";
        }

        if (bucket.StartsWith("goog", StringComparison.Ordinal))
        {
            return "is not a valid bucket name: it must not start with 'goog'";
        }

        if (bucket.Contains("google", StringComparison.Ordinal) || bucket.Contains("g00gle", StringComparison.Ordinal))
        {
            return "is not a valid bucket name: GCS refuses names containing 'google' or a close misspelling";
        }

        return IsDottedDecimal(bucket) ? "is not a valid bucket name: GCS refuses a name that reads as an IP address" : null;
    }

    private static bool IsDottedDecimal(string bucket)
    {
        var parts = bucket.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit));
    }

    /// <exception cref="ArgumentException">The name breaks the rule; the message says how.</exception>
    public static void Validate(string bucket, string paramName = "bucket")
    {
        if (Problem(bucket) is { } problem)
        {
            throw new ArgumentException($"bucket name '{bucket}' {problem}", paramName);
        }
    }

    private static bool IsLowerAlphanumeric(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
}
