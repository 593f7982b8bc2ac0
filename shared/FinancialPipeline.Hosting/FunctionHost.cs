using System.Diagnostics;
using System.Net;
using CloudNative.CloudEvents;
using FinancialPipeline.Core.Contracts;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Hosting;

/// <summary>
/// Hosting of one CloudEvent function the way the .NET Functions Framework does it: <c>PORT</c> (default 8080),
/// loopback unless <c>DOTNET_RUNNING_IN_CONTAINER</c>, JSON logs for Cloud Logging when <c>K_SERVICE</c> is set,
/// and POST on any path and query string (Eventarc adds <c>?__GCP_CloudEventsMode=…</c>; raw pushes go to
/// <c>/projects/P/topics/T</c>).
/// </summary>
public static partial class FunctionHost
{
    /// <summary>
    /// Pub/Sub's largest message (10 MB of data and attributes) arrives base64-encoded in a push, ≈13.4 MB: anything
    /// Pub/Sub can deliver fits; a larger body cannot come from it and is refused with 413.
    /// </summary>
    private const int MaxBodyBytes = 14 * 1024 * 1024;

    /// <summary>The listening port when <c>PORT</c> is unset, as on Cloud Run.</summary>
    private const int DefaultPort = 8080;

    private static readonly byte[] WarmUpBody =
        """{"message":{"data":"e30=","messageId":"warm-up","attributes":{}},"subscription":"projects/p/subscriptions/warm-up"}"""u8.ToArray();

    /// <summary>
    /// A function's <c>Main</c>: builds the host and runs it until SIGTERM (or SIGINT/SIGQUIT), then stops it
    /// gracefully. A setting that is missing or malformed
    /// (<see cref="InvalidOperationException"/> while the host is built: every check of the configuration throws it,
    /// naming the variable) is one line on stderr and exit 1, not an unhandled exception with a stack trace and an
    /// abort; so is a <c>PORT</c> Kestrel cannot listen on (already in use, say); a start whose startup tasks failed (the
    /// control database unreachable, say) exits 1 too, so the platform sees a failed start rather than a clean stop.
    /// </summary>
    public static async Task<int> RunAsync(string functionName, Func<FunctionApp> build, TextWriter? error = null)
    {
        ArgumentNullException.ThrowIfNull(build);
        FunctionApp app;
        try
        {
            app = build();
        }
        catch (InvalidOperationException ex)
        {
            (error ?? Console.Error).WriteLine($"{functionName}: cannot start: {ex.Message}");
            return 1;
        }

        var gate = app.Services.GetService<StartupGate>();
        await using (app)
        {
            // What the generic host's console lifetime did: a termination signal starts a graceful stop instead of
            // ending the process at once (Cloud Run sends SIGTERM, then SIGKILL 10 s later).
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, Stop);
            try
            {
                await app.StartAsync();
            }
            catch (IOException ex)
            {
                // Kestrel could not bind; the stack trace is logged at Debug.
                var port = app.Configuration["PORT"] ?? DefaultPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
                (error ?? Console.Error).WriteLine(ex.InnerException is AddressInUseException
                    ? $"{functionName}: cannot start: PORT={port} is already in use"
                    : $"{functionName}: cannot start: PORT={port}: {ex.Message}");
                LogStartFailureDetail(app.Logger, ex, functionName);
                return 1;
            }

            await app.WaitForShutdownAsync();
            await app.StopAsync();
        }

        return gate?.HasFailed == true ? 1 : 0;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            app.StopApplication();
        }
    }

    /// <param name="port">Overrides <c>PORT</c>; 0 picks a free port (tests, <c>fp run</c>).</param>
    public static FunctionHostBuilder CreateBuilder(string[] args, int? port = null)
    {
        // A function is configured by its environment (and command line) and ships no settings file, so there are no
        // appsettings sources, file providers or reload watches to set up; Kestrel without HTTPS.
        var configuration = new ConfigurationManager();
        configuration.AddEnvironmentVariables();
        configuration.AddCommandLine(args);
        var configuredPort = port ?? ListeningPort(configuration["PORT"]);
        var inContainer = configuration["DOTNET_RUNNING_IN_CONTAINER"]?.Trim().ToLowerInvariant() switch
        {
            null or "" or "false" or "0" => false,
            "true" or "1" => true,
            var other => throw new InvalidOperationException($"DOTNET_RUNNING_IN_CONTAINER='{other}' must be true or false"),
        };
        var kestrel = new KestrelServerOptions { AddServerHeader = false };
        kestrel.Listen(inContainer ? IPAddress.Any : IPAddress.Loopback, configuredPort);
        kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
        var jsonLogs = !string.IsNullOrEmpty(configuration["K_SERVICE"]) || JsonLogs(configuration["FP_LOG_FORMAT"]);

        var logging = configuration.GetSection("Logging");
        CheckLogLevels(logging);
        var builder = new FunctionHostBuilder(configuration, kestrel);
        // Kestrel's own lines (a connection reset, a bad request) stay at Warning and above; Cloud Run's request log
        // already has every status and latency. Logging__LogLevel__Microsoft.AspNetCore overrides this (added after).
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddConfiguration(logging);
        if (jsonLogs)
        {
            // The formatter takes no options: registered as is, not through AddConsoleFormatter, whose options are
            // bound by the reflection-based configuration binder (TypeDescriptor and all) at the first log line.
            builder.Logging.AddConsole(o => o.FormatterName = CloudLoggingJsonFormatter.FormatterName);
            builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Logging.Console.ConsoleFormatter, CloudLoggingJsonFormatter>());
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.IncludeScopes = true;
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }

        if (jsonLogs && (configuration["FP_PROJECT_ID"] ?? configuration["GOOGLE_CLOUD_PROJECT"]) is { Length: > 0 } project)
        {
            builder.Services.AddSingleton(new CloudTraceProject(project));
        }

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<StartupGate>();
        builder.Services.AddSingleton(PushAuthenticationOptions.FromConfiguration(configuration)); // invalid settings fail the start
        builder.Services.AddSingleton<PushAuthenticator>();
        return builder;
    }

    /// <summary><c>PORT</c>, default 8080; anything but a port number fails the start, naming the variable.</summary>
    private static int ListeningPort(string? value) =>
        value is null ? DefaultPort
        : int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535 ? port
        : throw new InvalidOperationException($"PORT='{value}' must be a port number, 1-65535");

    /// <summary><c>FP_LOG_FORMAT</c>: <c>text</c> (default) or <c>json</c>; anything else fails the start, naming the variable.</summary>
    private static bool JsonLogs(string? value) =>
        string.IsNullOrWhiteSpace(value) ? false
        : value.Trim().ToLowerInvariant() switch
        {
            "json" => true,
            "text" => false,
            _ => throw new InvalidOperationException($"FP_LOG_FORMAT='{value}' must be text or json"),
        };

    /// <summary>Routes every POST to <typeparamref name="TFunction"/>; GET /healthz answers 200.</summary>
    public static FunctionApp MapCloudEventFunction<TFunction>(this FunctionApp app, string functionName)
        where TFunction : class, ICloudEventFunction<MessagePublishedData>
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPost(null, context => HandleAsync<TFunction>(context, functionName));
        app.MapGet("/healthz", static context =>
        {
            var ready = context.RequestServices.GetRequiredService<StartupGate>().IsReady;
            context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            return context.Response.WriteAsync(ready ? "ok" : "starting", context.RequestAborted);
        });
        app.Services.GetService<StartupGate>()?.AddWarmer(static sp =>
        {
            // Build the function's object graph and run the parser once before the first real event arrives.
            sp.GetRequiredService<TFunction>();
            PubSubEventParser.Parse("/", static _ => null, "application/json", WarmUpBody);
        });
        return app;
    }

    private static async Task HandleAsync<TFunction>(HttpContext context, string functionName)
        where TFunction : class, ICloudEventFunction<MessagePublishedData>
    {
        var services = context.RequestServices;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("FinancialPipeline.Functions." + functionName);
        // What ASP.NET's hosting put in every request's scope: a line written before the payload is parsed (an OIDC
        // refusal, the startup gate's 503) can still be tied to its request, and to Kestrel's own lines.
        using var requestScope = logger.BeginScope(new LogScope(("RequestId", context.TraceIdentifier), ("RequestPath", context.Request.Path.Value ?? "/")));
        using var traceScope = services.GetService<CloudTraceProject>()?.TraceOf(context.Request.Headers) is { } trace
            ? logger.BeginScope(new LogScope((CloudTraceProject.TraceField, trace)))
            : null;
        var started = Stopwatch.GetTimestamp();
        if (!await AuthenticateAsync(context, functionName, logger))
        {
            return;
        }

        try
        {
            await services.GetRequiredService<StartupGate>().WaitAsync(context.RequestAborted);
        }
        catch (HostNotReadyException ex)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync(ex.Message, context.RequestAborted);
            return;
        }

        byte[] body;
        try
        {
            body = await ReadBodyAsync(context.Request, context.RequestAborted);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
        {
            // Larger than anything Pub/Sub can push (413), or cut short by the client: one line, not a stack trace.
            LogRefused(logger, functionName, ex.StatusCode, ex.Message);
            context.Response.StatusCode = ex.StatusCode;
            return;
        }

        var eventLog = EventLogContext.Begin();
        CloudEvent? cloudEvent = null;
        MessagePublishedData? data = null;
        try
        {
            (cloudEvent, data) = PubSubEventParser.Parse(
                context.Request.Path.Value ?? "/",
                name => context.Request.Headers.TryGetValue(name, out var v) ? v.ToString() : null,
                context.Request.ContentType,
                body);
            var function = services.GetRequiredService<TFunction>();
            await function.HandleAsync(cloudEvent, data, context.RequestAborted);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        }
        catch (MessageRejectedException ex)
        {
            // Rejected while parsing, after the execution id: the function described nothing, the rejection names it.
            using var scope = BeginScope(logger, eventLog)
                ?? (ex.ExecutionId is { } parsed ? logger.BeginScope(new LogScope(("execution_id", parsed.ToString("D")))) : null);
            await RejectAsync(context, functionName, cloudEvent, data, body, eventLog.ExecutionId, ex, logger);
        }
        catch (RetryLaterException ex)
        {
            using var scope = BeginScope(logger, eventLog);
            LogRetryLater(logger, functionName, cloudEvent?.Id, ex.Message);
            context.Response.StatusCode = StatusCodes.Status409Conflict;
            await context.Response.WriteAsync(ex.Message, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            using var scope = BeginScope(logger, eventLog);
            if (services.GetService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>()?.ApplicationStopping.IsCancellationRequested == true)
            {
                LogAbortedByShutdown(logger, functionName, cloudEvent?.Id);
            }
            else
            {
                LogAborted(logger, functionName, cloudEvent?.Id);
            }
        }
#pragma warning disable CA1031 // Any failure must become a NACK with a logged reason, never a crash of the host.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            using var scope = BeginScope(logger, eventLog);
            if (ex is EnvironmentFailureException)
            {
                // An outage repeats on every redelivery: one line each, the trace only for whoever turns Debug on.
                LogEnvironmentFailed(logger, functionName, cloudEvent?.Id, ex.Message);
                LogEnvironmentFailureDetail(logger, ex, functionName, cloudEvent?.Id);
            }
            else
            {
                LogFailed(logger, ex, functionName, cloudEvent?.Id);
            }

            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await context.Response.WriteAsync(ex.GetType().Name + ": " + ex.Message, context.RequestAborted);
        }
        finally
        {
            using var scope = BeginScope(logger, eventLog);
            LogHandled(logger, functionName, cloudEvent?.Id, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    /// <summary>OIDC check before anything else (no body read, no ledger access); false when the request was answered.</summary>
    private static async Task<bool> AuthenticateAsync(HttpContext context, string functionName, ILogger logger)
    {
        var authenticator = context.RequestServices.GetRequiredService<PushAuthenticator>();
        if (!authenticator.Enabled)
        {
            return true;
        }

        var verdict = await authenticator.AuthenticateAsync(context.Request.Headers.Authorization.ToString(), context.RequestAborted);
        if (verdict.Allowed)
        {
            return true;
        }

        LogRefused(logger, functionName, verdict.StatusCode, verdict.Reason);
        context.Response.StatusCode = verdict.StatusCode;
        if (verdict.StatusCode == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
        }

        return false;
    }

    /// <summary>The scope the function described for this request (execution_id, stage…), if it got that far.</summary>
    private static IDisposable? BeginScope(ILogger logger, EventLogContext eventLog) =>
        eventLog.Scope is { } scope ? logger.BeginScope(scope) : null;

    /// <param name="parsedExecutionId">The execution id of the body, when the function parsed it before rejecting.</param>
    private static async Task RejectAsync(HttpContext context, string functionName, CloudEvent? cloudEvent, MessagePublishedData? data, byte[] body, string? parsedExecutionId, MessageRejectedException ex, ILogger logger)
    {
        var attributes = data?.Message.Attributes ?? new Dictionary<string, string>();
        var executionId = parsedExecutionId ?? ex.ExecutionId?.ToString("D") ?? attributes.GetValueOrDefault("execution_id");
        var rejected = new RejectedMessage(
            functionName,
            data?.Message.MessageId ?? cloudEvent?.Id,
            data?.Subscription,
            cloudEvent?.Source?.ToString(),
            executionId,
            ex.Field,
            ex.Reason,
            data is null ? body : data.Message.Data,
            attributes,
            context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow());
        LogRejected(logger, functionName, rejected.MessageId, ex.Field, ex.Reason);
        if (context.RequestServices.GetService<IRejectionSink>() is { } sink)
        {
            // If recording fails the exception propagates as a 500: the message is redelivered, not lost.
            await sink.RecordAsync(rejected, context.RequestAborted);
        }

        // 200, not 202: Pub/Sub acks on 102, 200, 201, 202 and 204, but its emulator redelivers a 202 (measured), which
        // would loop a poison message into the dead-letter topic locally. 200 with a body, not the 204 of a run, so a
        // rejection stands out in Cloud Run's request log.
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync($"rejected: {ex.Field}: {ex.Reason}\n", context.RequestAborted);
    }

    /// <summary>
    /// <c>Logging__LogLevel__&lt;category&gt;</c> (and a provider's, <c>Logging__Console__LogLevel__…</c>) is a level name:
    /// checked here so that a typo names its variable, instead of the logging library's "Configuration value 'x' is not
    /// supported".
    /// </summary>
    private static void CheckLogLevels(IConfiguration logging)
    {
        foreach (var (key, value) in logging.AsEnumerable())
        {
            var path = key.Split(':');
            // Empty is unset, as the logging library reads it (Logging__LogLevel__Default= in a deployment's environment).
            if (string.IsNullOrEmpty(value) || path.Length < 2 || !path[^2].Equals("LogLevel", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!Enum.TryParse<LogLevel>(value, ignoreCase: true, out var level) || !Enum.IsDefined(level))
            {
                throw new InvalidOperationException(
                    $"{string.Join("__", path)}='{value}' must be one of {string.Join(", ", Enum.GetNames<LogLevel>())}");
            }
        }
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        using var buffer = new MemoryStream(request.ContentLength is > 0 and < MaxBodyBytes ? (int)request.ContentLength : 4096);
        await request.Body.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Function} rejected message {MessageId} permanently: {Field}: {Reason}")]
    private static partial void LogRejected(ILogger logger, string function, string? messageId, string field, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Function} refused a push with {StatusCode}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string function, int statusCode, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Function} asks to redeliver message {MessageId} later: {Reason}")]
    private static partial void LogRetryLater(ILogger logger, string function, string? messageId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Function} request for message {MessageId} was aborted by the caller")]
    private static partial void LogAborted(ILogger logger, string function, string? messageId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Function} request for message {MessageId} was aborted: the host is shutting down and it did not finish in time")]
    private static partial void LogAbortedByShutdown(ILogger logger, string function, string? messageId);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Function} failed on message {MessageId}; answering 500 so Pub/Sub redelivers")]
    private static partial void LogFailed(ILogger logger, Exception exception, string function, string? messageId);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Function} could not finish message {MessageId}: {Reason}; answering 500 so Pub/Sub redelivers")]
    private static partial void LogEnvironmentFailed(ILogger logger, string function, string? messageId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Function} failure detail for message {MessageId}")]
    private static partial void LogEnvironmentFailureDetail(ILogger logger, Exception exception, string function, string? messageId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Function} could not start")]
    private static partial void LogStartFailureDetail(ILogger logger, Exception exception, string function);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Function} answered {StatusCode} for message {MessageId} in {ElapsedMs:F1} ms")]
    private static partial void LogHandled(ILogger logger, string function, string? messageId, int statusCode, double elapsedMs);
}
