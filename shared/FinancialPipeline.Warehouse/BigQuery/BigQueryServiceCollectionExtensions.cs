using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Warehouse.BigQuery;

public static class BigQueryServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="BigQueryRestClient"/> (a typed HttpClient) as itself and as <see cref="IBigQueryJobClient"/>,
    /// with options validated at start-up and <see cref="TimeProvider.System"/> unless a TimeProvider is registered.
    /// </summary>
    public static IServiceCollection AddBigQueryRestClient(this IServiceCollection services, Action<BigQueryOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<BigQueryOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BigQueryOptions>, BigQueryOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpClient<BigQueryRestClient>();
        services.TryAddTransient<IBigQueryJobClient>(sp => sp.GetRequiredService<BigQueryRestClient>());
        return services;
    }

    private sealed class BigQueryOptionsValidator : IValidateOptions<BigQueryOptions>
    {
        public ValidateOptionsResult Validate(string? name, BigQueryOptions options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
