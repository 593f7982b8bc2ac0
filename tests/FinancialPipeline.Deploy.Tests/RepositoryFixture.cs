namespace FinancialPipeline.Deploy.Tests;

/// <summary>
/// A throwaway repository root with the four function projects and a sql/bigquery folder, so plans are checked
/// against known DDL instead of whatever the real folder holds today.
/// </summary>
public sealed class RepositoryFixture : IDisposable
{
    public const string ProjectId = "acme-markets-prod";

    public const string GoldDdl = """
        -- gold table; ${project}.${dataset} are substituted
        CREATE TABLE IF NOT EXISTS `${project}.${dataset}.financial_data_hour` (ticker STRING NOT NULL, `hour` TIMESTAMP NOT NULL)
        PARTITION BY DATE(`hour`) CLUSTER BY ticker
        OPTIONS (description = 'It''s $gold: `hour` is UTC');
        """;

    public const string SilverDdl = """
        /* silver external table */
        CREATE OR REPLACE EXTERNAL TABLE `${PROJECT}.${DATASET}.financial_quotes_silver`
        WITH PARTITION COLUMNS (`date` DATE)
        OPTIONS (format = 'PARQUET', uris = ['gs://${SILVER_BUCKET}/financial_quotes/*'],
                 hive_partition_uri_prefix = 'gs://${silver_bucket}/financial_quotes/', require_hive_partition_filter = false);
        """;

    public const string MergeQuery = """
        -- runtime MERGE with parameters: not DDL
        MERGE `${project}.${dataset}.financial_data_hour` t USING (SELECT @execution_id AS e) s ON FALSE
        WHEN NOT MATCHED THEN INSERT ROW;
        """;

    public RepositoryFixture()
    {
        Root = Directory.CreateTempSubdirectory("fp-deploy-tests-").FullName;
        foreach (var function in new[] { "Extract", "Transform", "Aggregate", "Alert" })
        {
            var folder = Directory.CreateDirectory(Path.Combine(Root, "functions", function)).FullName;
            File.WriteAllText(Path.Combine(folder, $"FinancialPipeline.Functions.{function}.csproj"), "<Project Sdk=\"Microsoft.NET.Sdk.Web\" />");
        }

        SqlDirectory = Directory.CreateDirectory(Path.Combine(Root, "sql", "bigquery")).FullName;
        File.WriteAllText(Path.Combine(SqlDirectory, "silver_external_table.sql"), SilverDdl);
        File.WriteAllText(Path.Combine(SqlDirectory, "gold_financial_data_hour.sql"), GoldDdl);
        File.WriteAllText(Path.Combine(SqlDirectory, "gold_merge.sql"), MergeQuery);
    }

    public string Root { get; }

    public string SqlDirectory { get; }

    public DeploymentSettings Settings => DeploymentSettings.ForProject(ProjectId, Root);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
