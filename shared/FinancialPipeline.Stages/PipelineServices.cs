using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Core.Warehouse;
using FinancialPipeline.Hosting;
using FinancialPipeline.Providers.Yahoo;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Alerts;
using FinancialPipeline.Stages.Functions;
using FinancialPipeline.Stages.Runner;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;
using FinancialPipeline.Storage.Gcs;
using FinancialPipeline.Warehouse;
using FinancialPipeline.Warehouse.BigQuery;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace FinancialPipeline.Stages;

/// <summary>Composition of a function host: one place, used by the three function projects, the CLI and the tests.</summary>
public static class PipelineServices
{
    /// <summary>Registers everything the stages need. Existing registrations (e.g. a test's publisher) win.</summary>
    public static IServiceCollection AddPipeline(this IServiceCollection services, PipelineSettings settings)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(settings);
        services.AddSingleton(_ => ControlDataSource(settings));
        services.AddSingleton(new LedgerOptions { HeartbeatInterval = settings.HeartbeatInterval, StaleAfter = settings.StaleAfter });
        services.AddSingleton<ExecutionLedger>();
        services.AddSingleton<JobConfigRepository>();
        services.AddSingleton<RejectedMessageStore>();
        services.AddSingleton<AdvisoryLocks>();
        services.AddSingleton<IRejectionSink, ControlDbRejectionSink>();
        services.TryAddSingleton<IPublisherClient>(_ => PubSubRestClient.Create(new PubSubOptions { ProjectId = settings.ProjectId, EmulatorHost = settings.PubSubEmulatorHost }));
        if (settings.Storage == "gcs" && !services.Any(d => d.ServiceType == typeof(IObjectStore)))
        {
            services.AddGcsObjectStore(_ => { }); // ADC, or STORAGE_EMULATOR_HOST
        }

        services.TryAddSingleton<IObjectStore>(_ => new FileSystemObjectStore(settings.BucketsRoot));
        var warehouseLocation = AddGoldWarehouse(services, settings);
        services.AddQuoteProviders(settings);
        services.AddSingleton(new StageTopics(settings.TopicPrefix));
        // The runner publishes only after a stage succeeds: a rejected, busy or already-done message never builds the
        // publisher's HTTP client and retry pipeline (the first event on a cold host is often one of those).
        // PublicationOnly: a failed construction is not cached for the life of the process (the container still
        // hands out one singleton).
        services.AddSingleton(sp => new Lazy<IPublisherClient>(sp.GetRequiredService<IPublisherClient>, LazyThreadSafetyMode.PublicationOnly));
        services.AddSingleton<StageRunner>();
        services.AddSingleton<ExtractWork>();
        services.AddSingleton(new SilverEngineOptions { WorkDirectory = settings.WorkDirectory });
        services.AddSingleton<TransformWork>();
        services.AddSingleton(sp => new AggregateWork(new Lazy<IGoldWarehouse>(sp.GetRequiredService<IGoldWarehouse>), warehouseLocation, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new DeferredWork<ExtractWork>(sp, Stage.Bronze));
        services.AddSingleton(sp => new DeferredWork<TransformWork>(sp, Stage.Silver));
        services.AddSingleton(sp => new DeferredWork<AggregateWork>(sp, Stage.Gold));
        services.AddSingleton<ExtractFunction>();
        services.AddSingleton<TransformFunction>();
        services.AddSingleton<AggregateFunction>();
        services.AddAlerts();
        if (settings.MigrateOnStart)
        {
            services.AddSingleton<IStartupTask, MigrateOnStart>();
        }

        services.AddSingleton<IStartupTask, OpenControlDbPool>();

        return services;
    }

    /// <summary>The market-data providers a job's <c>provider</c> column can name (hosts, and the CLI's backfill).</summary>
    public static IServiceCollection AddQuoteProviders(this IServiceCollection services, PipelineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IQuoteProvider, SyntheticQuoteProvider>();
        services.AddYahooChartProvider(o =>
        {
            o.BaseUrl = settings.YahooBaseUrl ?? o.BaseUrl;
            o.RequestsPerSecond = settings.YahooRequestsPerSecond ?? o.RequestsPerSecond;
            o.MaxConcurrency = settings.YahooMaxConcurrency ?? o.MaxConcurrency;
        });
        return services;
    }

    /// <summary>Builds a ready-to-run host for one function (used by each function's Program.cs and by <c>fp run</c>).</summary>
    public static FunctionApp BuildFunctionHost<TFunction>(string[] args, string functionName, Func<Microsoft.Extensions.Configuration.IConfiguration, PipelineSettings>? settings = null, int? port = null, Action<IServiceCollection>? configure = null)
        where TFunction : class, ICloudEventFunction<MessagePublishedData>
    {
        var builder = FunctionHost.CreateBuilder(args, port);
        configure?.Invoke(builder.Services);
        builder.Services.AddPipeline((settings ?? PipelineSettings.FromConfiguration)(builder.Configuration));
        var app = builder.Build();
        app.MapCloudEventFunction<TFunction>(functionName);
        return app;
    }

    /// <summary>FP_WAREHOUSE: DuckDB on the local data directory, or BigQuery over REST. Returns the location named in completion events.</summary>
    private static string AddGoldWarehouse(IServiceCollection services, PipelineSettings settings)
    {
        if (settings.Warehouse != PipelineSettings.BigQueryWarehouse)
        {
            services.TryAddSingleton<IGoldWarehouse>(sp => new DuckDbGoldWarehouse(
                new DuckDbOptions { DatabasePath = settings.DuckDbPath, BucketsRoot = settings.BucketsRoot }, sp.GetRequiredService<TimeProvider>()));
            return "duckdb://" + settings.DuckDbPath;
        }

        // PipelineSettings required and checked FP_BQ_SILVER_BUCKET with FP_WAREHOUSE=bigquery.
        var gold = new BigQueryGoldOptions
        {
            ProjectId = settings.BigQueryProjectId ?? settings.ProjectId,
            Dataset = settings.BigQueryDataset,
            SilverBucket = settings.BigQuerySilverBucket ?? throw new InvalidOperationException("FP_BQ_SILVER_BUCKET is not set"),
        };
        if (gold.Validate() is { Count: > 0 } errors)
        {
            throw new InvalidOperationException("FP_BQ_PROJECT / FP_BQ_DATASET: " + string.Join("; ", errors));
        }

        services.AddBigQueryRestClient(o =>
        {
            o.ProjectId = gold.ProjectId;
            o.Location = settings.BigQueryLocation;
        });
        services.TryAddSingleton<IGoldWarehouse>(sp => new BigQueryGoldWarehouse(
            sp.GetRequiredService<IBigQueryJobClient>(), sp.GetRequiredService<IObjectStore>(), gold, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BigQueryGoldWarehouse>>()));
        return "bigquery://" + gold.ProjectId;
    }

    private sealed class ControlDbRejectionSink(RejectedMessageStore store) : IRejectionSink
    {
        public Task RecordAsync(RejectedMessage rejected, CancellationToken cancellationToken) =>
            store.InsertAsync(rejected.FunctionName, rejected.MessageId, rejected.Subscription, rejected.Source, rejected.ExecutionId,
                rejected.Field, rejected.Reason, rejected.Payload, rejected.Attributes, rejected.ReceivedAt, cancellationToken);
    }

    /// <summary>Applies the control-DB migrations before the host handles an event (safe with concurrent instances).</summary>
    private sealed class MigrateOnStart(PipelineSettings settings, NpgsqlDataSource dataSource, ILogger<ControlDbMigrator> logger) : IStartupTask
    {
        public string Name => "control DB migration";

        public Task RunAsync(CancellationToken cancellationToken) =>
            ControlDbStartup(settings, () => new ControlDbMigrator(settings.PostgresConnection, logger, dataSource).MigrateAsync(cancellationToken));
    }

    /// <summary>
    /// Opens the control DB pool and runs the job lookup once, so the first event does not pay for the connection
    /// and the first query; also proves at start that the database is reachable.
    /// </summary>
    private sealed class OpenControlDbPool(PipelineSettings settings, JobConfigRepository jobs) : IStartupTask
    {
        public string Name => "control DB connection";

        public Task RunAsync(CancellationToken cancellationToken) => ControlDbStartup(settings, () => jobs.FindAsync("warm_up_probe", cancellationToken));
    }

    /// <summary>
    /// Parsed when the startup gate first needs it (the parser is kept off the cold start's critical path): a malformed
    /// FP_POSTGRES_CONNECTION fails the start in one line naming it, as an unreachable database does.
    /// </summary>
    private static NpgsqlDataSource ControlDataSource(PipelineSettings settings)
    {
        try
        {
            return ControlDbDataSource.Create(settings.PostgresConnection);
        }
        catch (InvalidOperationException ex)
        {
            throw new EnvironmentFailureException(ex.Message, ex);
        }
    }

    /// <summary>A control database that cannot be reached or used fails the start in one line naming FP_POSTGRES_CONNECTION.</summary>
    private static async Task ControlDbStartup(PipelineSettings settings, Func<Task> work)
    {
        try
        {
            await work();
        }
        catch (NpgsqlException ex)
        {
            throw new EnvironmentFailureException("control database: " + ControlDbDataSource.DescribeFailure(ex, settings.PostgresConnection), ex);
        }
    }
}
