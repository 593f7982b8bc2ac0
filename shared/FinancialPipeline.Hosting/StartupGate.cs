using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Hosting;

/// <summary>Work a host must finish before it handles its first event (migrations, opening the DB pool).</summary>
public interface IStartupTask
{
    string Name { get; }

    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Runs the <see cref="IStartupTask"/>s in registration order on a background task while Kestrel starts, instead of
/// before it: on a cold start the two overlap (2 cores), and every request waits for the gate, so no event is
/// handled against an unmigrated database. If a task fails, requests answer 503 (Pub/Sub redelivers) and the host
/// stops, so the platform replaces the instance.
/// </summary>
public sealed partial class StartupGate(IServiceProvider services, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<StartupGate> logger)
{
    private readonly List<Action<IServiceProvider>> warmers = [];
    private Task ready = Task.CompletedTask;

    /// <summary>True once every startup task has completed successfully.</summary>
    public bool IsReady => ready.IsCompletedSuccessfully;

    /// <summary>True when a startup task failed (the host stops; its process should exit non-zero).</summary>
    public bool HasFailed => ready.IsFaulted;

    /// <summary>Adds a cheap action run after the startup tasks, e.g. resolving the function so its graph is built.</summary>
    public void AddWarmer(Action<IServiceProvider> warmer) => warmers.Add(warmer);

    /// <summary>Starts the startup tasks on the thread pool; <see cref="FunctionApp.StartAsync"/> calls it before Kestrel starts.</summary>
    public void Start() => ready = Task.Run(() => RunAllAsync(lifetime.ApplicationStopping), CancellationToken.None);

    /// <summary>Completes when the host is ready; throws <see cref="HostNotReadyException"/> if startup failed.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ready.WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new HostNotReadyException($"host startup failed: {ex.Message}", ex);
        }
    }

    private async Task RunAllAsync(CancellationToken stopping)
    {
        var current = "setup"; // resolving the tasks builds what they use (the control DB's data source, say)
        try
        {
            foreach (var task in services.GetServices<IStartupTask>())
            {
                current = task.Name;
                await task.RunAsync(stopping);
            }

            current = "warm-up";
            foreach (var warm in warmers)
            {
                warm(services);
            }

            if (logger.IsEnabled(LogLevel.Information))
            {
                // The process start time comes from System.Diagnostics.Process: loaded only if the line is written.
                LogReady(logger, (time.GetUtcNow().UtcDateTime - System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime()).TotalMilliseconds, System.Runtime.JitInfo.GetCompiledMethodCount(), System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds);
            }
        }
        catch (EnvironmentFailureException ex)
        {
            // The environment, not the code (a database unreachable, a setting pointing at the wrong place): one line
            // naming what to fix, no stack trace.
            LogStartupEnvironmentFailed(logger, current, ex.Message);
            lifetime.StopApplication();
            throw;
        }
        catch (Exception ex)
        {
            LogStartupFailed(logger, ex, current);
            lifetime.StopApplication();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "host ready {SinceProcessStartMs:F0} ms after process start; {JittedMethods} methods JIT-compiled in {JitMs:F0} ms")]
    private static partial void LogReady(ILogger logger, double sinceProcessStartMs, long jittedMethods, double jitMs);

    [LoggerMessage(Level = LogLevel.Critical, Message = "startup task {Task} failed; the host stops: {Reason}")]
    private static partial void LogStartupEnvironmentFailed(ILogger logger, string task, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "startup task {Task} failed; the host stops")]
    private static partial void LogStartupFailed(ILogger logger, Exception exception, string task);
}

/// <summary>The host's startup tasks failed: answer 503 so the message is redelivered to a healthy instance.</summary>
public sealed class HostNotReadyException(string message, Exception inner) : Exception(message, inner);
