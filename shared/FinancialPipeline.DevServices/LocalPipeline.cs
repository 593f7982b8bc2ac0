using FinancialPipeline.ControlDb;
using FinancialPipeline.Hosting;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Alerts;
using FinancialPipeline.Stages.Functions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace FinancialPipeline.DevServices;

public sealed record LocalPipelineOptions
{
    /// <summary>Topic/subscription prefix; tests use a unique one each.</summary>
    public string Prefix { get; init; } = "fp-";

    public string ProjectId { get; init; } = "local-project";

    public required string DataDirectory { get; init; }

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(30);

    public int MaxDeliveryAttempts { get; init; } = 5;

    /// <summary>
    /// Retry policy of every push subscription (the emulator honours it). With <see cref="MaxDeliveryAttempts"/> it must
    /// outlast <see cref="StaleAfter"/> + <see cref="HeartbeatInterval"/> (<see cref="DeliverySchedule"/>), or a crashed
    /// worker's message is dead-lettered before a redelivery can take its row over: 5 s doubling to 30 s gives
    /// 5 + 10 + 20 + 30 = 65 s of redeliveries against the default 30 + 2 s.
    /// </summary>
    public RetryPolicySpec RetryPolicy { get; init; } = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30));

    /// <summary>
    /// Lets <see cref="RetryPolicy"/> give up before a zombie is stale (<see cref="TopologySettings.AllowDeadLetterBeforeTakeover"/>):
    /// only for tests that dead-letter a message failing on every delivery within seconds.
    /// </summary>
    public bool AllowDeadLetterBeforeTakeover { get; init; }

    /// <summary>Also host the Alert function, subscribed to the dead-letter and alerts topics.</summary>
    public bool Alerts { get; init; } = true;

    /// <summary>
    /// Where the Alert function posts. Null: FP_SLACK_WEBHOOK_URL from the environment, and when that is unset too
    /// the alerts are logged (Warning) instead of posted.
    /// </summary>
    public Uri? SlackWebhookUrl { get; init; }

    /// <summary>Function hosts' minimum log level (the CLI keeps them quiet, tests may raise it).</summary>
    public LogLevel FunctionLogLevel { get; init; } = LogLevel.Warning;

    /// <summary>
    /// Where jobs with provider <c>yahoo</c> fetch from (e.g. a <see cref="LocalYahooServer"/>). Null: FP_YAHOO_BASE_URL
    /// from the environment, as a function host reads it, and when that is unset too the real API.
    /// </summary>
    public Uri? YahooBaseUrl { get; init; }

    /// <summary>Yahoo requests per second of the Extract host.</summary>
    public double? YahooRequestsPerSecond { get; init; }

    /// <summary>Yahoo requests in flight at once from the Extract host.</summary>
    public int? YahooMaxConcurrency { get; init; }

    /// <summary>Transform's scratch space (null: the system temp directory).</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Lets a test replace services of the function hosts (e.g. a publisher that fails once).</summary>
    public Action<string, IServiceCollection>? ConfigureFunction { get; init; }
}

/// <summary>Where the shared infrastructure comes from: given by the environment, or started by us.</summary>
public sealed class LocalInfrastructure : IAsyncDisposable
{
    private readonly PostgresCluster? _postgres;
    private readonly PubSubEmulator? _emulator;

    private LocalInfrastructure(string connection, string emulatorHost, PostgresCluster? postgres, PubSubEmulator? emulator)
    {
        PostgresConnection = connection;
        EmulatorHost = emulatorHost;
        _postgres = postgres;
        _emulator = emulator;
    }

    public string PostgresConnection { get; }

    /// <summary>
    /// <see cref="PostgresConnection"/> over the started cluster's Unix-domain socket, the way Cloud Run connects to
    /// Cloud SQL; the given FP_POSTGRES_CONNECTION as it is, or TCP when the socket's path would be too long.
    /// </summary>
    public string PostgresSocketConnection => _postgres?.SocketConnectionString ?? PostgresConnection;

    /// <summary>True when this stack started the PostgreSQL cluster (a throwaway one: trust authentication, no password).</summary>
    public bool StartedPostgres => _postgres is not null;

    /// <summary>True when this stack started the Pub/Sub emulator (PUBSUB_EMULATOR_HOST was not given).</summary>
    public bool StartedEmulator => _emulator is not null;

    public string EmulatorHost { get; }

    /// <summary>PIDs we started (postmaster, emulator JVM), for orphan checks.</summary>
    public IReadOnlyList<int> StartedProcessIds => new[] { _postgres?.ProcessId ?? 0, _emulator?.ProcessId ?? 0 }.Where(p => p > 0).ToList();

    /// <summary>
    /// Uses FP_POSTGRES_CONNECTION and PUBSUB_EMULATOR_HOST when set; otherwise starts a throwaway PostgreSQL
    /// cluster and the Pub/Sub emulator (in parallel) on free loopback ports. Applies migrations and the local seed.
    /// </summary>
    public static Task<LocalInfrastructure> StartAsync(ILoggerFactory? loggers = null, CancellationToken cancellationToken = default) =>
        StartAsync(loggers, startEmulator: true, cancellationToken);

    /// <param name="startEmulator">False: PostgreSQL only (<see cref="EmulatorHost"/> is then PUBSUB_EMULATOR_HOST or empty).</param>
    public static async Task<LocalInfrastructure> StartAsync(ILoggerFactory? loggers, bool startEmulator, CancellationToken cancellationToken)
    {
        loggers ??= NullLoggerFactory.Instance;
        var givenPg = Environment.GetEnvironmentVariable("FP_POSTGRES_CONNECTION");
        var givenEmulator = Environment.GetEnvironmentVariable("PUBSUB_EMULATOR_HOST");
        // Given ones are checked as a function host checks them, before anything starts: a malformed value is one line
        // naming its variable, and a given emulator that does not answer is said in seconds, not after the client's
        // six attempts of a minute each.
        if (!string.IsNullOrWhiteSpace(givenPg))
        {
            ControlDbDataSource.Create(givenPg).Dispose();
        }

        if (!string.IsNullOrWhiteSpace(givenEmulator) && startEmulator)
        {
            await PubSubEmulator.ProbeAsync(PipelineSettings.EmulatorHost(givenEmulator)!, cancellationToken);
        }
        var pgTask = string.IsNullOrWhiteSpace(givenPg) ? PostgresCluster.StartAsync(loggers.CreateLogger<PostgresCluster>(), cancellationToken) : Task.FromResult<PostgresCluster>(null!);
        var emuTask = startEmulator && string.IsNullOrWhiteSpace(givenEmulator) ? PubSubEmulator.StartAsync(loggers.CreateLogger<PubSubEmulator>(), cancellationToken) : Task.FromResult<PubSubEmulator>(null!);
        try
        {
            await Task.WhenAll(pgTask, emuTask);
        }
        catch
        {
            if (pgTask.IsCompletedSuccessfully && pgTask.Result is { } pg)
            {
                await pg.DisposeAsync();
            }

            if (emuTask.IsCompletedSuccessfully && emuTask.Result is { } emu)
            {
                await emu.DisposeAsync();
            }

            throw;
        }

        var infra = new LocalInfrastructure(givenPg ?? pgTask.Result.ConnectionString, givenEmulator ?? emuTask.Result?.Host ?? string.Empty, pgTask.Result, emuTask.Result);
        try
        {
            var migrator = new ControlDbMigrator(infra.PostgresConnection, loggers.CreateLogger<ControlDbMigrator>());
            await migrator.MigrateAsync(cancellationToken);
            await migrator.SeedLocalDefaultsAsync(cancellationToken);
            return infra;
        }
        catch
        {
            await infra.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_emulator is not null)
        {
            await _emulator.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}

/// <summary>
/// The three stage hosts (and the Alert function) on loopback ports, the topology created in the emulator with push subscriptions
/// to them: the whole pipeline in one process, on real PostgreSQL and the real emulator.
/// </summary>
public sealed class LocalPipeline : IAsyncDisposable
{
    private readonly List<FunctionApp> _hosts;

    private LocalPipeline(LocalInfrastructure infrastructure, PipelineTopology topology, PubSubRestClient pubSub, PipelineSettings settings, List<FunctionApp> hosts)
    {
        Infrastructure = infrastructure;
        Topology = topology;
        PubSub = pubSub;
        Settings = settings;
        _hosts = hosts;
    }

    public LocalInfrastructure Infrastructure { get; }

    public PipelineTopology Topology { get; }

    public PubSubRestClient PubSub { get; }

    public PipelineSettings Settings { get; }

    public IReadOnlyList<Uri> HostAddresses => _hosts.Select(h => h.BoundAddress()).ToList();

    public static async Task<LocalPipeline> StartAsync(LocalInfrastructure infrastructure, LocalPipelineOptions options, CancellationToken cancellationToken = default)
    {
        // Said before any host starts (the topology checks it again when it is built).
        if (TakeoverProblem(options) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(options), problem);
        }

        var settings = new PipelineSettings
        {
            PostgresConnection = infrastructure.PostgresConnection,
            ProjectId = options.ProjectId,
            PubSubEmulatorHost = infrastructure.EmulatorHost,
            TopicPrefix = options.Prefix,
            DataDirectory = Path.GetFullPath(options.DataDirectory),
            HeartbeatInterval = options.HeartbeatInterval,
            StaleAfter = options.StaleAfter,
            MigrateOnStart = false,
            YahooBaseUrl = options.YahooBaseUrl ?? PipelineSettings.YahooBaseUrlFrom(Environment.GetEnvironmentVariable("FP_YAHOO_BASE_URL")),
            YahooRequestsPerSecond = options.YahooRequestsPerSecond,
            YahooMaxConcurrency = options.YahooMaxConcurrency,
            WorkDirectory = options.WorkDirectory,
        };
        // Read before any host starts: a malformed FP_SLACK_WEBHOOK_URL is one error, not three hosts torn down mid-start.
        var alertSettings = options.SlackWebhookUrl is { } webhook
            ? new AlertSettings { SlackWebhookUrl = webhook }
            : AlertSettings.FromConfiguration(new ConfigurationBuilder().AddEnvironmentVariables().Build());
        var hosts = new List<FunctionApp>();
        try
        {
            hosts.Add(await StartHostAsync<ExtractFunction>(ExtractFunction.Name, settings, alertSettings, options, cancellationToken));
            hosts.Add(await StartHostAsync<TransformFunction>(TransformFunction.Name, settings, alertSettings, options, cancellationToken));
            hosts.Add(await StartHostAsync<AggregateFunction>(AggregateFunction.Name, settings, alertSettings, options, cancellationToken));
            if (options.Alerts)
            {
                hosts.Add(await StartHostAsync<AlertFunction>(AlertFunction.Name, settings, alertSettings, options, cancellationToken));
            }

            var topology = PipelineTopology.Create(new TopologySettings
            {
                Prefix = options.Prefix,
                ProjectId = options.ProjectId,
                ExtractEndpoint = hosts[0].BoundAddress(),
                TransformEndpoint = hosts[1].BoundAddress(),
                AggregateEndpoint = hosts[2].BoundAddress(),
                AlertEndpoint = options.Alerts ? hosts[3].BoundAddress() : null,
                AckDeadlineSeconds = 60,
                RetryPolicy = options.RetryPolicy,
                MaxDeliveryAttempts = options.MaxDeliveryAttempts,
                StaleAfter = options.StaleAfter,
                HeartbeatInterval = options.HeartbeatInterval,
                AllowDeadLetterBeforeTakeover = options.AllowDeadLetterBeforeTakeover,
            });
            var pubSub = PubSubRestClient.Create(new PubSubOptions { ProjectId = options.ProjectId, EmulatorHost = infrastructure.EmulatorHost });
            await TopologyApplier.ApplyAsync(topology, pubSub, pubSub, cancellationToken);
            return new LocalPipeline(infrastructure, topology, pubSub, settings, hosts);
        }
        catch
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>Null when <paramref name="options"/>' deliveries outlast its zombie threshold (or the check is waived), else why not.</summary>
    public static string? TakeoverProblem(LocalPipelineOptions options) =>
        options.AllowDeadLetterBeforeTakeover ? null : DeliverySchedule.TakeoverProblem(options.RetryPolicy, options.MaxDeliveryAttempts, options.StaleAfter, options.HeartbeatInterval);

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.StopAsync(CancellationToken.None);
            await host.DisposeAsync();
        }

        try
        {
            await TopologyApplier.DeleteAsync(Topology, PubSub, PubSub, CancellationToken.None);
        }
        catch (Exception ex) when (ex is PubSubException or HttpRequestException)
        {
            // The emulator may already be gone; its state dies with it.
        }
    }

    private static async Task<FunctionApp> StartHostAsync<TFunction>(string name, PipelineSettings settings, AlertSettings alertSettings, LocalPipelineOptions options, CancellationToken ct)
        where TFunction : class, Hosting.ICloudEventFunction<Hosting.MessagePublishedData>
    {
        var app = PipelineServices.BuildFunctionHost<TFunction>([], name, _ => settings, port: 0, configure: services =>
        {
            services.AddLogging(l => l.SetMinimumLevel(options.FunctionLogLevel));
            services.AddSingleton(alertSettings);

            options.ConfigureFunction?.Invoke(name, services);
        });
        await app.StartAsync(ct);
        return app;
    }
}
