using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Hosting;

/// <summary>
/// One function's HTTP host: Kestrel serving a handful of routes, with the function's services, configuration and
/// logging from Microsoft.Extensions. It is what <c>WebApplication</c> would be for a function, without the generic
/// host: no hosted-service orchestration, middleware pipeline, endpoint routing, diagnostics listener or host
/// configuration layer, which a function that answers POSTs does not use and whose set-up took a third of a cold start
/// on this machine (see the README's Known limits). Shut down by <see cref="StopAsync"/> (the process's Main wires
/// SIGTERM to it, see <see cref="FunctionHost.RunAsync"/>): Kestrel stops accepting, lets requests in flight finish
/// within <see cref="ShutdownTimeout"/>, then aborts them: a stage whose request is aborted marks its row FAILED, so
/// its redelivery runs at once (on an instance that is not going away) instead of meeting a RUNNING row.
/// </summary>
public sealed partial class FunctionApp : IAsyncDisposable, IHttpApplication<HttpContext>
{
    /// <summary>
    /// Cloud Run sends SIGKILL 10 s after SIGTERM: requests in flight get 7 s to finish, and one still running then is
    /// aborted with 3 s left to record that (a stage marks FAILED in milliseconds when the control database answers).
    /// </summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(7);

    private readonly ServiceProvider services;
    private readonly KestrelServer server;
    private readonly FunctionLifetime lifetime;
    private readonly List<Route> routes = [];
    private IHttpContextFactory? contexts;
    private int started;
    private readonly Lock stopLock = new();
    private Task? stopping;

    internal FunctionApp(ServiceProvider services, IConfiguration configuration, KestrelServerOptions kestrel)
    {
        this.services = services;
        Configuration = configuration;
        lifetime = services.GetRequiredService<FunctionLifetime>();
        var loggers = services.GetRequiredService<ILoggerFactory>();
        Logger = loggers.CreateLogger("FinancialPipeline.Hosting.FunctionApp");
        kestrel.ApplicationServices = services;
        server = new KestrelServer(Options.Create(kestrel), new SocketTransportFactory(Options.Create(new SocketTransportOptions()), loggers), loggers);
    }

    public IServiceProvider Services => services;

    public IConfiguration Configuration { get; }

    public ILogger Logger { get; }

    /// <summary>How long a stop waits for requests in flight before it aborts them.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = DefaultShutdownTimeout;

    /// <summary>Routes POSTs to <paramref name="path"/> (null: any path) to <paramref name="handler"/>.</summary>
    public FunctionApp MapPost(string? path, RequestDelegate handler) => Map(HttpMethods.Post, path, handler);

    /// <summary>Routes GETs (and HEADs) of <paramref name="path"/> to <paramref name="handler"/>.</summary>
    public FunctionApp MapGet(string path, RequestDelegate handler) => Map(HttpMethods.Get, path, handler);

    /// <summary>Starts the startup tasks (in the background, see <see cref="StartupGate"/>), then Kestrel.</summary>
    /// <exception cref="IOException">Kestrel could not bind its address (the port in use, say).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested || Interlocked.Exchange(ref started, 1) != 0)
        {
            throw new InvalidOperationException("the function host was already started or stopped");
        }

        contexts = new DefaultHttpContextFactory(services);
        services.GetService<StartupGate>()?.Start();
        await server.StartAsync(this, cancellationToken);
        lifetime.NotifyStarted();
        if (Logger.IsEnabled(LogLevel.Information))
        {
            LogListening(Logger, BoundAddress());
        }
    }

    /// <summary>The address Kestrel bound (after <see cref="StartAsync"/>), e.g. http://127.0.0.1:41234.</summary>
    public Uri BoundAddress()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        return addresses is { Count: > 0 } && Volatile.Read(ref started) == 1
            ? new Uri(addresses.First())
            : throw new InvalidOperationException("the function host has no address; call StartAsync first");
    }

    /// <summary>Asks the host to stop (SIGTERM, a failed startup task); <see cref="WaitForShutdownAsync"/> returns.</summary>
    public void StopApplication() => lifetime.StopApplication();

    /// <summary>Completes once <see cref="StopApplication"/> was called.</summary>
    public Task WaitForShutdownAsync() => lifetime.Stopping;

    /// <summary>
    /// Stops accepting, waits for requests in flight (at most <see cref="ShutdownTimeout"/>), then aborts them. Every
    /// call, concurrent or later, completes when that one stop has.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        lifetime.StopApplication();
        if (Volatile.Read(ref started) == 0)
        {
            return Task.CompletedTask;
        }

        lock (stopLock)
        {
            return stopping ??= Task.Run(() => StopServerAsync(cancellationToken), CancellationToken.None);
        }
    }

    private async Task StopServerAsync(CancellationToken cancellationToken)
    {
        LogStopping(Logger, ShutdownTimeout.TotalSeconds);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ShutdownTimeout);
        await server.StopAsync(timeout.Token);
        lifetime.NotifyStopped();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        server.Dispose();
        await services.DisposeAsync();
    }

    HttpContext IHttpApplication<HttpContext>.CreateContext(IFeatureCollection contextFeatures) => contexts!.Create(contextFeatures);

    void IHttpApplication<HttpContext>.DisposeContext(HttpContext context, Exception? exception) => contexts!.Dispose(context);

    Task IHttpApplication<HttpContext>.ProcessRequestAsync(HttpContext context)
    {
        var method = context.Request.Method;
        // One trailing slash is optional, as it was with endpoint routing (/healthz/ is /healthz).
        var path = context.Request.Path.Value is { Length: > 0 } p ? (p.Length > 1 && p[^1] == '/' ? p[..^1] : p) : "/";
        var pathKnown = false;
        foreach (var route in routes)
        {
            if (!route.Serves(path))
            {
                continue;
            }

            pathKnown = true;
            if (HttpMethods.Equals(route.Method, method) || (route.Method == HttpMethods.Get && HttpMethods.IsHead(method)))
            {
                return route.Handler(context);
            }
        }

        // As endpoint routing answers: 405 with the methods the path has, 404 for a path no route has.
        if (pathKnown)
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = string.Join(", ", routes.Where(r => r.Serves(path)).Select(r => r.Method).Distinct());
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
        }

        return Task.CompletedTask;
    }

    private FunctionApp Map(string method, string? path, RequestDelegate handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (Volatile.Read(ref started) != 0)
        {
            throw new InvalidOperationException("routes are added before the function host starts");
        }

        if (path is not null && !path.StartsWith('/'))
        {
            throw new ArgumentException($"route '{path}' must start with '/'", nameof(path));
        }

        routes.Add(new Route(method, path, handler));
        return this;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listening on {Address}")]
    private static partial void LogListening(ILogger logger, Uri address);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopping: requests in flight have {Seconds:F0} s to finish, then they are aborted")]
    private static partial void LogStopping(ILogger logger, double seconds);

    private sealed record Route(string Method, string? Path, RequestDelegate Handler)
    {
        /// <summary>A null path serves every path.</summary>
        public bool Serves(string path) => Path is null || string.Equals(Path, path, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>The host's lifetime as <see cref="IHostApplicationLifetime"/>, for services that stop it or watch it stop.</summary>
internal sealed class FunctionLifetime : IHostApplicationLifetime, IDisposable
{
    private readonly CancellationTokenSource startedSource = new();
    private readonly CancellationTokenSource stoppingSource = new();
    private readonly CancellationTokenSource stoppedSource = new();
    private readonly TaskCompletionSource stopping = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CancellationToken ApplicationStarted => startedSource.Token;

    public CancellationToken ApplicationStopping => stoppingSource.Token;

    public CancellationToken ApplicationStopped => stoppedSource.Token;

    public Task Stopping => stopping.Task;

    public void StopApplication()
    {
        if (stopping.TrySetResult())
        {
            stoppingSource.Cancel();
        }
    }

    public void NotifyStarted() => startedSource.Cancel();

    public void NotifyStopped() => stoppedSource.Cancel();

    public void Dispose()
    {
        startedSource.Dispose();
        stoppingSource.Dispose();
        stoppedSource.Dispose();
    }
}
