using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Hosting;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Operations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace FinancialPipeline.Cli;

/// <summary>
/// The stack the operator commands act on, from the same environment variables as the functions:
/// FP_POSTGRES_CONNECTION (control DB), PUBSUB_EMULATOR_HOST or real Pub/Sub in FP_PROJECT_ID/GOOGLE_CLOUD_PROJECT,
/// FP_TOPIC_PREFIX, FP_STALE_AFTER_SECONDS.
/// </summary>
internal sealed class OperatorEnvironment : IAsyncDisposable
{
    private readonly ServiceProvider _providers;

    private OperatorEnvironment(PipelineSettings settings, NpgsqlDataSource dataSource, PipelineOperator op, ServiceProvider providers)
    {
        Settings = settings;
        DataSource = dataSource;
        Operator = op;
        _providers = providers;
    }

    public PipelineSettings Settings { get; }

    public NpgsqlDataSource DataSource { get; }

    public PipelineOperator Operator { get; }

    /// <summary>The provider <paramref name="job"/> names, configured as the functions configure it (request spans, limits).</summary>
    public IQuoteProvider ProviderFor(JobConfig job) => QuoteProviders.For(_providers.GetServices<IQuoteProvider>(), job);

    /// <summary>Null and an error on stderr when the environment is incomplete.</summary>
    public static OperatorEnvironment? TryCreate(string command)
    {
        PipelineSettings settings;
        NpgsqlDataSource dataSource;
        try
        {
            settings = PipelineSettings.FromConfiguration(new ConfigurationBuilder().AddEnvironmentVariables().Build());
            dataSource = ControlDbDataSource.Create(settings.PostgresConnection);
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"fp {command}: {ex.Message}");
            return null;
        }

        var providers = new ServiceCollection().AddQuoteProviders(settings).BuildServiceProvider();
        try
        {
            StartupValidation.Validate(providers);
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"fp {command}: {ex.Message}");
            providers.Dispose();
            dataSource.Dispose();
            return null;
        }

        var options = new LedgerOptions { StaleAfter = settings.StaleAfter, HeartbeatInterval = settings.HeartbeatInterval };
        var publisher = PubSubRestClient.Create(new PubSubOptions { ProjectId = settings.ProjectId, EmulatorHost = settings.PubSubEmulatorHost });
        var op = new PipelineOperator(
            new ExecutionLedger(dataSource, TimeProvider.System, options),
            new LedgerOperations(dataSource, TimeProvider.System, options),
            publisher,
            new StageTopics(settings.TopicPrefix),
            TimeProvider.System);
        return new OperatorEnvironment(settings, dataSource, op, providers);
    }

    public async ValueTask DisposeAsync()
    {
        await _providers.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}
