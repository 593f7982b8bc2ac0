namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>A table name that passed <see cref="BigQueryNames.ValidateTable"/>.</summary>
public sealed record BigQueryTableName(string ProjectId, string DatasetId, string TableId)
{
    /// <summary><c>project.dataset.table</c>.</summary>
    public string FullName => $"{ProjectId}.{DatasetId}.{TableId}";

    /// <summary>The name in backticks, safe to splice into GoogleSQL because every part was validated.</summary>
    public string Quoted => $"`{FullName}`";

    public override string ToString() => FullName;
}

/// <summary>
/// Checks identifiers before they are spliced into SQL (identifiers cannot be query parameters).
/// Deliberately stricter than BigQuery: no domain-scoped projects, no Unicode table names.
/// </summary>
public static class BigQueryNames
{
    public const int MaxDatasetOrTableLength = 1024;

    /// <summary>Parses and validates <c>project.dataset.table</c>; throws <see cref="ArgumentException"/> naming the value.</summary>
    public static BigQueryTableName ValidateTable(string fullName)
    {
        ArgumentNullException.ThrowIfNull(fullName);
        var parts = fullName.Split('.');
        if (parts.Length != 3)
        {
            throw new ArgumentException($"BigQuery table '{fullName}' must have the form project.dataset.table", nameof(fullName));
        }

        if (!IsValidProjectId(parts[0]))
        {
            throw new ArgumentException(
                $"BigQuery table '{fullName}': project '{parts[0]}' must be 6-30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen",
                nameof(fullName));
        }

        if (!IsValidDatasetOrTableId(parts[1]))
        {
            throw new ArgumentException(
                $"BigQuery table '{fullName}': dataset '{parts[1]}' must be 1-{MaxDatasetOrTableLength} letters, digits or underscores",
                nameof(fullName));
        }

        if (!IsValidDatasetOrTableId(parts[2]))
        {
            throw new ArgumentException(
                $"BigQuery table '{fullName}': table '{parts[2]}' must be 1-{MaxDatasetOrTableLength} letters, digits or underscores",
                nameof(fullName));
        }

        return new BigQueryTableName(parts[0], parts[1], parts[2]);
    }

    /// <summary>Validates, then returns <c>`project.dataset.table`</c>.</summary>
    public static string QuoteTable(string fullName) => ValidateTable(fullName).Quoted;

    public static bool IsValidProjectId(string? value) =>
        value is { Length: >= 6 and <= 30 }
        && char.IsAsciiLetterLower(value[0])
        && value[^1] != '-'
        && value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    /// <summary>A multi-region (US, EU) or a region (us-east4, europe-west2): a letter, then 1-40 letters, digits or hyphens.</summary>
    public static bool IsValidLocation(string? value) =>
        value is { Length: >= 2 and <= 41 }
        && char.IsAsciiLetter(value[0])
        && value.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    public static bool IsValidDatasetOrTableId(string? value) =>
        value is { Length: >= 1 and <= MaxDatasetOrTableLength }
        && value.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>GoogleSQL parameter names: letters, digits, underscores, not starting with a digit, at most 128.</summary>
    public static bool IsValidParameterName(string? value) =>
        value is { Length: >= 1 and <= 128 }
        && !char.IsAsciiDigit(value[0])
        && value.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
