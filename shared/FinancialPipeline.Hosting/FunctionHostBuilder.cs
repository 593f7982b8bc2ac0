using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Hosting;

/// <summary>
/// Configures one <see cref="FunctionApp"/>, shaped like <c>WebApplicationBuilder</c>: <see cref="Configuration"/>
/// (the environment, then the command line), <see cref="Services"/> and <see cref="Logging"/>.
/// Created by <see cref="FunctionHost.CreateBuilder"/>.
/// </summary>
public sealed class FunctionHostBuilder
{
    private readonly KestrelServerOptions kestrel;

    internal FunctionHostBuilder(ConfigurationManager configuration, KestrelServerOptions kestrel)
    {
        Configuration = configuration;
        this.kestrel = kestrel;
        Services.AddSingleton<IConfiguration>(configuration);
        Services.AddLogging();
        Services.AddSingleton<FunctionLifetime>();
        Services.AddSingleton<IHostApplicationLifetime>(sp => sp.GetRequiredService<FunctionLifetime>());
        Logging = new LoggingBuilder(Services);
    }

    public ConfigurationManager Configuration { get; }

    public IServiceCollection Services { get; } = new ServiceCollection();

    public ILoggingBuilder Logging { get; }

    /// <summary>Builds the services; the host listens once started.</summary>
    /// <exception cref="InvalidOperationException">
    /// Options registered with <c>ValidateOnStart</c> are invalid (what the generic host checks when it starts).
    /// </exception>
    public FunctionApp Build()
    {
        var services = Services.BuildServiceProvider();
        try
        {
            StartupValidation.Validate(services);
        }
        catch (InvalidOperationException)
        {
            services.Dispose();
            throw;
        }

        return new(services, Configuration, kestrel);
    }

    private sealed class LoggingBuilder(IServiceCollection services) : ILoggingBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
