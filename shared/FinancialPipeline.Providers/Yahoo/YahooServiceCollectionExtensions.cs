using System.Net;
using FinancialPipeline.Core.Market;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Providers.Yahoo;

public static class YahooServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="YahooChartProvider"/> as a typed HttpClient and as an <see cref="IQuoteProvider"/>.
    /// All instances share one <see cref="YahooRequestThrottle"/> (singleton), so the rate limit and concurrency
    /// bound hold across the whole process. Options are validated on first use and at host start.
    /// </summary>
    /// <returns>The client builder, to add handlers (e.g. an outbound proxy).</returns>
    public static IHttpClientBuilder AddYahooChartProvider(this IServiceCollection services, Action<YahooOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<YahooOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<YahooOptions>, YahooOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new YahooRequestThrottle(sp.GetRequiredService<IOptions<YahooOptions>>().Value));
        services.TryAddEnumerable(ServiceDescriptor.Transient<IQuoteProvider, YahooChartProvider>(sp => sp.GetRequiredService<YahooChartProvider>()));
        return services
            .AddHttpClient<YahooChartProvider>(client => client.Timeout = Timeout.InfiniteTimeSpan) // AttemptTimeout rules.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AutomaticDecompression = DecompressionMethods.All,
                // A provider captured by a singleton keeps its client; recycling connections keeps DNS fresh.
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            });
    }

    private sealed class YahooOptionsValidator : IValidateOptions<YahooOptions>
    {
        public ValidateOptionsResult Validate(string? name, YahooOptions options)
        {
            var problems = options.Problems();
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
