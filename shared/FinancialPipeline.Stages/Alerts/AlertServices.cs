using FinancialPipeline.ControlDb;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Stages.Alerts;

public static class AlertServices
{
    /// <summary>The Alert function's services. <see cref="AlertSettings"/> comes from configuration unless registered before.</summary>
    public static IServiceCollection AddAlerts(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => AlertSettings.FromConfiguration(sp.GetService<IConfiguration>()));
        services.TryAddSingleton<AlertNotificationStore>();
        services.TryAddSingleton<IAlertChannel>(sp =>
        {
            var settings = sp.GetRequiredService<AlertSettings>();
            return settings.SlackWebhookUrl is { } url
                ? new SlackWebhookChannel(new HttpClient { Timeout = settings.PostTimeout }, url)
                : new LogAlertChannel(sp.GetRequiredService<ILogger<LogAlertChannel>>());
        });
        services.TryAddSingleton<AlertDispatcher>();
        services.TryAddSingleton<AlertFunction>();
        return services;
    }
}
