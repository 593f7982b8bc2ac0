using System.Text.RegularExpressions;

namespace FinancialPipeline.Deploy;

/// <summary>A DDL file of sql/bigquery with its placeholders substituted.</summary>
public sealed record SqlScript(string FileName, string Sql);

/// <summary>
/// Reads every <c>*.sql</c> of the BigQuery folder in name order at plan time. Files whose first statement is
/// DDL (CREATE/ALTER) are run by the deployment; the others (the gold MERGE, read queries) are run by the
/// functions with query parameters, so they are listed as skipped. <c>${name}</c> placeholders are replaced
/// (case-insensitively); an unknown one is an error naming the file.
/// </summary>
public static partial class BigQueryDdl
{
    public static IReadOnlyDictionary<string, string> Placeholders(DeploymentSettings settings) =>
        new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["project"] = settings.ProjectId,
            ["dataset"] = settings.BigQueryDataset,
            ["location"] = settings.BigQueryLocation,
            ["bronze_bucket"] = settings.BronzeBucket,
            ["silver_bucket"] = settings.SilverBucket,
        };

    public static (IReadOnlyList<SqlScript> Ddl, IReadOnlyList<string> Skipped) Load(string directory, IReadOnlyDictionary<string, string> placeholders)
    {
        if (!Directory.Exists(directory))
        {
            return ([], []);
        }

        var ddl = new List<SqlScript>();
        var skipped = new List<string>();
        foreach (var path in Directory.GetFiles(directory, "*.sql").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            var text = File.ReadAllText(path);
            if (!IsDdl(text))
            {
                skipped.Add(name);
                continue;
            }

            ddl.Add(new SqlScript(name, Substitute(name, text, placeholders)));
        }

        return (ddl, skipped);
    }

    public static bool IsDdl(string sql)
    {
        var match = FirstKeyword().Match(StripComments(sql));
        return match.Success && match.Groups[1].Value.ToUpperInvariant() is "CREATE" or "ALTER";
    }

    public static string Substitute(string fileName, string sql, IReadOnlyDictionary<string, string> placeholders)
    {
        if (ShellQuoting.ContainsMarker(sql))
        {
            throw new InvalidDataException($"{fileName}: contains control characters");
        }

        return Placeholder().Replace(sql, m => placeholders.TryGetValue(m.Groups[1].Value, out var value)
            ? value
            : throw new InvalidDataException(
                $"{fileName}: unknown placeholder {m.Value} (known: {string.Join(", ", placeholders.Keys.Order(StringComparer.Ordinal).Select(k => "${" + k + "}"))})"));
    }

    private static string StripComments(string sql) => Comments().Replace(sql, " ");

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"--[^\n]*|/\*.*?\*/|#[^\n]*", RegexOptions.Singleline)]
    private static partial Regex Comments();

    [GeneratedRegex(@"^\s*([A-Za-z]+)")]
    private static partial Regex FirstKeyword();
}
