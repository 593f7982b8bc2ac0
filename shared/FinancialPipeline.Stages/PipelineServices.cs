using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Core.Warehouse;
using FinancialPipeline.Hosting;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Alerts;
using FinancialPipeline.Stages.Functions;
using FinancialPipeline.Stages.Runner;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;
using FinancialPipeline.Warehouse;
using Microsoft.AspNetCore.Builder;
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
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(settings.PostgresConnection).Build());
        services.AddSingleton(new LedgerOptions { HeartbeatInterval = settings.HeartbeatInterval, StaleAfter = settings.StaleAfter });
        services.AddSingleton<ExecutionLedger>();
        services.AddSingleton<JobConfigRepository>();
        services.AddSingleton<RejectedMessageStore>();
        services.AddSingleton<AdvisoryLocks>();
        services.AddSingleton<IRejectionSink, ControlDbRejectionSink>();
        services.TryAddSingleton<IPublisherClient>(_ => PubSubRestClient.Create(new PubSubOptions { ProjectId = settings.ProjectId, EmulatorHost = settings.PubSubEmulatorHost }));
        services.TryAddSingleton<IObjectStore>(_ => new FileSystemObjectStore(settings.BucketsRoot));
        services.TryAddSingleton<IGoldWarehouse>(sp => new DuckDbGoldWarehouse(
            new DuckDbOptions { DatabasePath = settings.DuckDbPath, BucketsRoot = settings.BucketsRoot }, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IQuoteProvider, SyntheticQuoteProvider>();
        services.AddSingleton(new StageTopics(settings.TopicPrefix));
        services.AddSingleton<StageRunner>();
        services.AddSingleton<ExtractWork>();
        services.AddSingleton<TransformWork>();
        services.AddSingleton(sp => new AggregateWork(sp.GetRequiredService<IGoldWarehouse>(), "duckdb://" + settings.DuckDbPath));
        services.AddSingleton<ExtractFunction>();
        services.AddSingleton<TransformFunction>();
        services.AddSingleton<AggregateFunction>();
        services.AddAlerts();
        if (settings.MigrateOnStart)
        {
            services.AddHostedService<MigrateOnStart>();
        }

        return services;
    }

    /// <summary>Builds a ready-to-run host for one function (used by each function's Program.cs and by <c>fp run</c>).</summary>
    public static WebApplication BuildFunctionHost<TFunction>(string[] args, string functionName, Func<Microsoft.Extensions.Configuration.IConfiguration, PipelineSettings>? settings = null, int? port = null, Action<IServiceCollection>? configure = null)
        where TFunction : class, ICloudEventFunction<MessagePublishedData>
    {
        var builder = FunctionHost.CreateBuilder(args, port);
        configure?.Invoke(builder.Services);
        builder.Services.AddPipeline((settings ?? PipelineSettings.FromConfiguration)(builder.Configuration));
        var app = builder.Build();
        app.MapCloudEventFunction<TFunction>(functionName);
        return app;
    }

    private sealed class ControlDbRejectionSink(RejectedMessageStore store) : IRejectionSink
    {
        public Task RecordAsync(RejectedMessage rejected, CancellationToken cancellationToken) =>
            store.InsertAsync(rejected.FunctionName, rejected.MessageId, rejected.Subscription, rejected.Source, rejected.ExecutionId,
                rejected.Field, rejected.Reason, rejected.Payload, rejected.Attributes, rejected.ReceivedAt, cancellationToken);
    }

    /// <summary>Applies the control-DB migrations before the host accepts requests (safe with concurrent instances).</summary>
    private sealed class MigrateOnStart(PipelineSettings settings, ILogger<ControlDbMigrator> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => new ControlDbMigrator(settings.PostgresConnection, logger).MigrateAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
