namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>
/// The part of a <c>tables.get</c> answer the pipeline reads: the table's reference and its top-level column names
/// (<c>schema.fields[].name</c>, in table order).
/// </summary>
public sealed record BigQueryTable(string ProjectId, string DatasetId, string TableId, IReadOnlyList<string> ColumnNames)
{
    /// <summary>Whether the table has a top-level column of that name (BigQuery column names ignore case).</summary>
    public bool HasColumn(string name) => ColumnNames.Contains(name, StringComparer.OrdinalIgnoreCase);
}
