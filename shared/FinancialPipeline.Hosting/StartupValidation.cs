using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Hosting;

/// <summary>
/// What the generic host checks when it starts: options registered with <c>ValidateOnStart</c> (Yahoo, GCS,
/// BigQuery). The function host runs it when it is built, and <c>fp</c> when it builds the same clients.
/// </summary>
public static class StartupValidation
{
    /// <exception cref="InvalidOperationException">Some options are invalid; the message lists every failure.</exception>
    public static void Validate(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
        }
        catch (OptionsValidationException ex)
        {
            throw new InvalidOperationException($"invalid settings: {string.Join("; ", ex.Failures)}", ex);
        }
    }
}
