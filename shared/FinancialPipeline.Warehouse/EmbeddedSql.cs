using System.Reflection;

namespace FinancialPipeline.Warehouse;

/// <summary>The SQL files of <c>sql/duckdb</c> and <c>sql/bigquery</c>, embedded as <c>duckdb.*</c> / <c>bigquery.*</c>.</summary>
internal static class EmbeddedSql
{
    public static string Read(string resource)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded SQL {resource} missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
