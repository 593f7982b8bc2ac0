using FinancialPipeline.Core.Market;
using FinancialPipeline.Providers.Yahoo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Providers.Tests;

public sealed class YahooServiceCollectionExtensionsTests
{
    [Fact]
    public async Task AddYahooChartProvider_RegistersATypedClientThatUsesTheConfiguredBaseUrl()
    {
        await using var server = await YahooStubServer.StartAsync(YahooStubServer.Chart);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(new FixedClock(Fixtures.At("2024-03-08T00:00:00Z")));
        services.AddYahooChartProvider(o => o.BaseUrl = server.BaseUrl);
        await using var container = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });

        var provider = Assert.Single(container.GetServices<IQuoteProvider>());
        var quotes = await provider.FetchAsync("MSFT", Fixtures.Monday, TimeSpan.FromHours(1), CancellationToken.None);

        Assert.Equal("yahoo", provider.Name);
        Assert.False(quotes.Failed, quotes.Error);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task AddYahooChartProvider_InstancesShareOneThrottle()
    {
        var services = new ServiceCollection();
        services.AddYahooChartProvider(o => o.MaxConcurrency = 2);
        await using var container = services.BuildServiceProvider();

        var first = container.GetRequiredService<YahooChartProvider>();
        var second = container.GetRequiredService<YahooChartProvider>();

        Assert.NotSame(first, second);
        Assert.Same(first.Throttle, second.Throttle);
        Assert.Equal(2, first.Throttle.MaxConcurrency);
    }

    [Fact]
    public async Task AddYahooChartProvider_InvalidOptions_FailValidation()
    {
        var services = new ServiceCollection();
        services.AddYahooChartProvider(o => o.RequestsPerSecond = 0);
        await using var container = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => container.GetRequiredService<IOptions<YahooOptions>>().Value);

        Assert.Contains("RequestsPerSecond", ex.Message, StringComparison.Ordinal);
    }
}
