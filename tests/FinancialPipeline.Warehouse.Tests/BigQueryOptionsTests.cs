using FinancialPipeline.Warehouse.BigQuery;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Warehouse.Tests;

public sealed class BigQueryOptionsTests
{
    [Fact]
    public void Defaults_point_at_the_public_api_and_need_only_a_project()
    {
        var options = new BigQueryOptions { ProjectId = "fp-prod-123" };

        Assert.Empty(options.Validate());
        Assert.Equal(new Uri("https://bigquery.googleapis.com/"), options.BaseAddress);
        Assert.Equal("US", options.Location);
    }

    [Fact]
    public void Every_problem_is_listed()
    {
        var options = new BigQueryOptions
        {
            ProjectId = "Bad_Project",
            Location = "us east",
            Timeout = TimeSpan.Zero,
            MaxRetryAttempts = -1,
        };

        var errors = options.Validate();

        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.Contains("Bad_Project", StringComparison.Ordinal));
    }

    [Fact]
    public void AddBigQueryRestClient_resolves_the_client_with_its_options()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddBigQueryRestClient(o =>
        {
            o.ProjectId = "fp-prod-123";
            o.Location = "us-east4";
        });
        using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<IBigQueryJobClient>();

        Assert.Equal("fp-prod-123", Assert.IsType<BigQueryRestClient>(client).ProjectId);
    }

    [Fact]
    public void AddBigQueryRestClient_refuses_invalid_options()
    {
        var services = new ServiceCollection();
        services.AddBigQueryRestClient(o => o.ProjectId = "x");
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<BigQueryOptions>>().Value);
        Assert.Contains("'x'", ex.Message, StringComparison.Ordinal);
    }
}
