using System.Text.RegularExpressions;

namespace FinancialPipeline.Deploy.Tests;

public sealed class BigQueryDdlTests(RepositoryFixture repo) : IClassFixture<RepositoryFixture>
{
    private const string Project = RepositoryFixture.ProjectId;

    [Fact]
    public void DdlFilesRunInNameOrderWithEveryPlaceholderSubstituted()
    {
        var plan = DeploymentPlanner.Build(repo.Settings);
        var queries = plan.Commands("bq", $"--project_id={Project}", "--location=US", "query");
        Assert.Equal(["gold_financial_data_hour.sql", "silver_external_table.sql"], queries.Select(q => q.Comment.Split(' ')[2]["sql/bigquery/".Length..]));
        Assert.All(queries, q => Assert.Equal("false", q.Flag("--use_legacy_sql")));
        Assert.All(queries, q => Assert.DoesNotContain("${", q.Stdin, StringComparison.Ordinal));
        Assert.Contains($"`{Project}.financial_pipeline.financial_data_hour`", queries[0].Stdin, StringComparison.Ordinal);
        Assert.Contains($"`{Project}.financial_pipeline.financial_quotes_silver`", queries[1].Stdin, StringComparison.Ordinal);
        Assert.Contains($"'gs://{Project}-fp-silver/financial_quotes/*'", queries[1].Stdin, StringComparison.Ordinal);
        Assert.Contains($"'gs://{Project}-fp-silver/financial_quotes/'", queries[1].Stdin, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDatasetIsCreatedBeforeItsTablesAndQueriesAreListedAsNotRun()
    {
        var plan = DeploymentPlanner.Build(repo.Settings);
        var steps = plan.Steps.ToList();
        var dataset = Assert.Single(plan.Steps, s => s.Kind == StepKind.CreateIfMissing && s.Command.Contains("mk"));
        Assert.Equal($"{Project}:financial_pipeline", dataset.Command[^1]);
        Assert.True(dataset.Has("--dataset"));
        Assert.Contains("gold_merge.sql", dataset.Comment, StringComparison.Ordinal);
        Assert.True(steps.IndexOf(dataset) < steps.FindIndex(s => s.Command.Contains("query")));
        Assert.DoesNotContain(plan.Steps, s => s.Stdin?.Contains("MERGE", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void AnUnknownPlaceholderIsAnErrorNamingTheFileAndThePlaceholder()
    {
        var folder = Directory.CreateTempSubdirectory("fp-ddl-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "bad.sql"), "CREATE TABLE `${project}.${gold_dataset}.t` (x INT64);");
            var error = Assert.Throws<InvalidDataException>(() => BigQueryDdl.Load(folder, BigQueryDdl.Placeholders(repo.Settings)));
            Assert.Contains("bad.sql", error.Message, StringComparison.Ordinal);
            Assert.Contains("${gold_dataset}", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void AMissingSqlFolderMeansNoDdl()
    {
        var plan = DeploymentPlanner.Build(repo.Settings with { BigQuerySqlDirectory = "sql/none" });
        Assert.Empty(plan.Commands("bq", $"--project_id={Project}", "--location=US", "query"));
    }

    [Fact]
    public void TheRepositorysOwnSqlUsesOnlyKnownPlaceholders()
    {
        var root = RepositoryRoot();
        var (ddl, skipped) = BigQueryDdl.Load(Path.Combine(root.FullName, "sql", "bigquery"), BigQueryDdl.Placeholders(repo.Settings));
        Assert.All(ddl, script => Assert.DoesNotContain("${", script.Sql, StringComparison.Ordinal));
        Assert.Equal(Directory.Exists(Path.Combine(root.FullName, "sql", "bigquery")) ? Directory.GetFiles(Path.Combine(root.FullName, "sql", "bigquery"), "*.sql").Length : 0, ddl.Count + skipped.Count);
    }

    [Fact]
    public void TheRepositorysDdlCreatesEveryTableBeforeAViewReadsIt_TheDeDuplicatedQuarantineIncluded()
    {
        // BigQuery resolves a view's tables when it is created: files run in name order, so the quarantine view's file
        // must sort after the external tables' file.
        var root = RepositoryRoot();
        var (ddl, _) = BigQueryDdl.Load(Path.Combine(root.FullName, "sql", "bigquery"), BigQueryDdl.Placeholders(repo.Settings));
        var dataset = $"`{Project}.financial_pipeline.";
        var created = new HashSet<string>(StringComparer.Ordinal);
        foreach (var script in ddl)
        {
            // In the order the statements run: a CREATE makes its table readable by what follows it.
            foreach (Match m in Regex.Matches(script.Sql, @"CREATE (?:OR REPLACE )?(?:EXTERNAL TABLE|TABLE IF NOT EXISTS|TABLE|VIEW) (?<created>`[^`]+`)|(?:FROM|JOIN) (?<read>`[^`]+`)"))
            {
                if (m.Groups["created"].Success)
                {
                    created.Add(m.Groups["created"].Value);
                }
                else
                {
                    Assert.True(created.Contains(m.Groups["read"].Value), $"{script.FileName} reads {m.Groups["read"].Value} before any file creates it");
                }
            }
        }

        // The same view as the DuckDB script's: only the table names' quoting and the keywords' case differ.
        static string Body(string sql) => Regex.Replace(Regex.Replace(sql[sql.IndexOf("\nSELECT", StringComparison.Ordinal)..], @"`[^`]+\.([a-z_]+)`", "$1"), @"\s+", " ").Trim().ToUpperInvariant();
        var duckDb = File.ReadAllText(Path.Combine(root.FullName, "sql", "duckdb", "010_silver_views.sql"));
        var duckDbView = duckDb[duckDb.IndexOf("CREATE OR REPLACE VIEW financial_quotes_rejected_current AS", StringComparison.Ordinal)..];

        var view = Assert.Single(ddl, s => s.Sql.Contains($"VIEW {dataset}financial_quotes_rejected_current`", StringComparison.Ordinal));
        Assert.Contains($"FROM {dataset}financial_quotes_rejected` AS r", view.Sql, StringComparison.Ordinal);
        Assert.Contains($"FROM {dataset}financial_quotes_silver` AS s", view.Sql, StringComparison.Ordinal);
        Assert.Contains($"{dataset}financial_quotes_rejected_current`", created);
        Assert.Equal(Body(duckDbView), Body(view.Sql));
        var plan = DeploymentPlanner.Build(repo.Settings with { RepositoryRoot = root.FullName });
        Assert.Contains(plan.Commands("bq", $"--project_id={Project}", "--location=US", "query"), q => q.Stdin == view.Sql);
    }

    [Fact]
    public void TheRepositorysGoldMigrationRunsAtDeployRightAfterTheGoldTableIsCreated()
    {
        // The functions run the ALTER only when tables.get shows the table without currency; fp deploy apply runs both
        // files every time (one-off), the CREATE first.
        var root = RepositoryRoot();
        var plan = DeploymentPlanner.Build(repo.Settings with { RepositoryRoot = root.FullName });
        var files = plan.Commands("bq", $"--project_id={Project}", "--location=US", "query").Select(q => q.Comment.Split(' ')[2]["sql/bigquery/".Length..]).ToList();
        var create = files.IndexOf("gold_financial_data_hour.sql");
        Assert.True(create >= 0, "the gold table's DDL runs at deploy");
        Assert.Equal("gold_financial_data_hour_add_currency.sql", files[create + 1]);

        var (ddl, _) = BigQueryDdl.Load(Path.Combine(root.FullName, "sql", "bigquery"), BigQueryDdl.Placeholders(repo.Settings));
        var alter = Assert.Single(ddl, s => s.FileName == "gold_financial_data_hour_add_currency.sql");
        Assert.Contains($"ALTER TABLE `{Project}.financial_pipeline.financial_data_hour` ADD COLUMN IF NOT EXISTS currency STRING", alter.Sql, StringComparison.Ordinal);
        Assert.DoesNotContain("ALTER TABLE", ddl.Single(s => s.FileName == "gold_financial_data_hour.sql").Sql, StringComparison.Ordinal);
    }

    private static DirectoryInfo RepositoryRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "FinancialPipeline.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        return root;
    }

    [Theory]
    [InlineData("CREATE TABLE t (x INT64)", true)]
    [InlineData("-- c\n/* block\n MERGE */\n  create or replace external table t", true)]
    [InlineData("# hash comment\nALTER TABLE t SET OPTIONS (description = 'x')", true)]
    [InlineData("MERGE t USING s ON FALSE WHEN NOT MATCHED THEN INSERT ROW", false)]
    [InlineData("-- CREATE in a comment only\nSELECT 1", false)]
    [InlineData("", false)]
    public void OnlyDdlIsRunAtDeployTime(string sql, bool ddl) => Assert.Equal(ddl, BigQueryDdl.IsDdl(sql));
}
