using FinancialPipeline.Core.Warehouse;
using FinancialPipeline.Stages;
using FinancialPipeline.Warehouse;
using FinancialPipeline.Warehouse.BigQuery;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Core.Tests;

/// <summary>FP_WAREHOUSE and the FP_BQ_* variables choose and configure the gold warehouse.</summary>
public sealed class WarehouseSelectionTests
{
    [Fact]
    public void Default_is_DuckDb_in_the_data_directory()
    {
        using var provider = Build(new Dictionary<string, string?>());

        Assert.IsType<DuckDbGoldWarehouse>(provider.GetRequiredService<IGoldWarehouse>());
    }

    [Fact]
    public void BigQuery_is_selected_with_its_project_dataset_and_location()
    {
        var settings = Settings(new Dictionary<string, string?>
        {
            ["FP_WAREHOUSE"] = "BigQuery",
            ["FP_PROJECT_ID"] = "fp-prod-123",
            ["FP_BQ_DATASET"] = "markets",
            ["FP_BQ_LOCATION"] = "us-east4",
        });
        using var provider = Build(settings);

        var warehouse = Assert.IsType<BigQueryGoldWarehouse>(provider.GetRequiredService<IGoldWarehouse>());
        Assert.Equal("fp-prod-123.markets.financial_data_hour", warehouse.TableName);
        Assert.Equal("us-east4", settings.BigQueryLocation);
    }

    [Theory]
    [InlineData("FP_WAREHOUSE", "snowflake", "FP_WAREHOUSE='snowflake'")]
    [InlineData("FP_BQ_DATASET", "markets-eu", "FP_BQ_DATASET")]
    public void Invalid_setting_fails_start_naming_the_variable(string key, string value, string expected)
    {
        var values = new Dictionary<string, string?> { ["FP_WAREHOUSE"] = "bigquery", ["FP_PROJECT_ID"] = "fp-prod-123", [key] = value };

        var error = Assert.Throws<InvalidOperationException>(() => Build(Settings(values)).Dispose());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private static PipelineSettings Settings(Dictionary<string, string?> values)
    {
        values["FP_POSTGRES_CONNECTION"] = "Host=127.0.0.1;Username=fp;Database=fp";
        return PipelineSettings.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }

    private static ServiceProvider Build(Dictionary<string, string?> values) => Build(Settings(values));

    private static ServiceProvider Build(PipelineSettings settings)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddPipeline(settings with { MigrateOnStart = false });
        return services.BuildServiceProvider();
    }
}
