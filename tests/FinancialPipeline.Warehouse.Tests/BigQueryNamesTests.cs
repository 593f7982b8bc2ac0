using FinancialPipeline.Warehouse.BigQuery;

namespace FinancialPipeline.Warehouse.Tests;

public sealed class BigQueryNamesTests
{
    [Fact]
    public void Valid_name_is_split_and_quoted()
    {
        var name = BigQueryNames.ValidateTable("fp-prod-123.market_gold.Prices_1h");

        Assert.Equal(new BigQueryTableName("fp-prod-123", "market_gold", "Prices_1h"), name);
        Assert.Equal("`fp-prod-123.market_gold.Prices_1h`", name.Quoted);
        Assert.Equal("`fp-prod-123.market_gold.Prices_1h`", BigQueryNames.QuoteTable("fp-prod-123.market_gold.Prices_1h"));
    }

    [Theory]
    [InlineData("p.d.t; DROP")]
    [InlineData("my-project.d.t; DROP TABLE x")]
    [InlineData("my-project.d.t`; DELETE FROM `my-project.d.u")]
    [InlineData("my-project.d.t--")]
    [InlineData("my-project.d.t\n")]
    [InlineData("My-Project.d.t")]
    [InlineData("short.d.t")]
    [InlineData("a-project-name-that-is-far-too-long.d.t")]
    [InlineData("1project.d.t")]
    [InlineData("my-project-.d.t")]
    [InlineData("my-project.d-x.t")]
    [InlineData("my-project..t")]
    [InlineData("my-project.d")]
    [InlineData("my-project.d.t.x")]
    [InlineData("")]
    public void Injection_and_malformed_names_are_rejected_naming_the_value(string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => BigQueryNames.ValidateTable(value));
        Assert.Contains($"'{value}'", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => BigQueryNames.QuoteTable(value));
    }

    [Fact]
    public void Dataset_and_table_may_be_1024_characters_but_not_more()
    {
        Assert.NotNull(BigQueryNames.ValidateTable($"my-project.{new string('d', 1024)}.{new string('t', 1024)}"));
        Assert.Throws<ArgumentException>(() => BigQueryNames.ValidateTable($"my-project.d.{new string('t', 1025)}"));
    }
}
