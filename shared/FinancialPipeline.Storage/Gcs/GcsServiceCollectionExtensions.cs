using FinancialPipeline.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Storage.Gcs;

public static class GcsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="GcsObjectStore"/> as a singleton and as the <see cref="IObjectStore"/>, over a named
    /// HttpClient whose connections are recycled every few minutes (so DNS changes are seen by a long-lived store).
    /// </summary>
    public static IServiceCollection AddGcsObjectStore(this IServiceCollection services, Action<GcsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        // Checked when the host starts, not when a stage body first asks for the store (bodies are built lazily).
        services.AddOptions<GcsOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GcsOptions>, GcsOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpClient(GcsObjectStore.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        services.TryAddSingleton(provider => new GcsObjectStore(
            provider.GetRequiredService<IHttpClientFactory>().CreateClient(GcsObjectStore.HttpClientName),
            provider.GetRequiredService<IOptions<GcsOptions>>().Value,
            provider.GetRequiredService<TimeProvider>(),
            provider.GetService<ILogger<GcsObjectStore>>()));
        services.AddSingleton<IObjectStore>(provider => provider.GetRequiredService<GcsObjectStore>());
        return services;
    }

    private sealed class GcsOptionsValidator : IValidateOptions<GcsOptions>
    {
        public ValidateOptionsResult Validate(string? name, GcsOptions options)
        {
            try
            {
                options.Validate();
                options.ResolveEndpoint();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail(ex.Message);
            }
        }
    }
}
