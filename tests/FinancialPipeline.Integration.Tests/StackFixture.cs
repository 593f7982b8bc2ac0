using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;
using Npgsql;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// One real PostgreSQL cluster and one real Pub/Sub emulator for the whole collection (or the ones named by
/// FP_POSTGRES_CONNECTION / PUBSUB_EMULATOR_HOST). Tests create uniquely named jobs, topics and data
/// directories, so they never depend on each other's data.
/// </summary>
public sealed class StackFixture : IAsyncLifetime
{
    private readonly string _dataRoot = Path.Combine(Path.GetTempPath(), $"fp-tests-{Guid.NewGuid():N}");
    private LocalInfrastructure? _infrastructure;

    public LocalInfrastructure Infrastructure => _infrastructure ?? throw new InvalidOperationException("fixture not started");

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _infrastructure = await LocalInfrastructure.StartAsync();
        DataSource = ControlDbDataSource.Create(Infrastructure.PostgresConnection);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        if (_infrastructure is not null)
        {
            var started = _infrastructure.StartedProcessIds;
            await _infrastructure.DisposeAsync();
            await ProcessTrees.WaitGoneAsync(started, TimeSpan.FromSeconds(10));
        }

        // The pipelines' buckets and warehouses: ~1 MB per pipeline, ~16 MB per test run, which used to pile up in /tmp.
        if (Directory.Exists(_dataRoot))
        {
            Directory.Delete(_dataRoot, recursive: true);
        }
    }

    public static string UniqueName(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 12, 40)];

    /// <summary>An empty database of its own in the same cluster (no tables), dropped when disposed.</summary>
    public async Task<ScratchDatabase> CreateDatabaseAsync(string prefix)
    {
        var name = prefix + Guid.NewGuid().ToString("N")[..12];
        await using var create = DataSource.CreateCommand($"CREATE DATABASE \"{name}\"");
        await create.ExecuteNonQueryAsync();
        return new ScratchDatabase(DataSource, name, new NpgsqlConnectionStringBuilder(Infrastructure.PostgresConnection) { Database = name }.ConnectionString);
    }

    /// <summary>A fresh job with its own buckets, so windows and outputs are the test's own.</summary>
    /// <param name="lookbackSeconds">
    /// The default reaches the last session from any moment: the longest rule-based close (a Friday holiday, the
    /// weekend, Monday before the open, after a 13:00 early close) is under four days, and tests assert rows.
    /// </param>
    public async Task<JobConfig> CreateJobAsync(string? tickers = null, bool active = true, int lookbackSeconds = 5 * 86400, string provider = "synthetic")
    {
        var name = UniqueName("job_");
        var job = JobConfig.Create(name, tickers ?? "AAPL,MSFT,NVDA", 3600, 10800, "bronze-" + name.Replace('_', '-'), "silver-" + name.Replace('_', '-'), provider, "1h", lookbackSeconds, active);
        await new JobConfigRepository(DataSource).UpsertAsync(job, "tests", CancellationToken.None);
        return job;
    }

    /// <summary>The variables an operator exports to point <c>fp</c> at this stack (and at <paramref name="pipeline"/>'s topics).</summary>
    public Dictionary<string, string> OperatorVariables(LocalPipeline pipeline) => OperatorVariables(pipeline.Settings.TopicPrefix);

    /// <summary>The variables an operator exports to point <c>fp</c> at this stack and the topics named with <paramref name="topicPrefix"/>.</summary>
    public Dictionary<string, string> OperatorVariables(string topicPrefix) => new()
    {
        ["FP_POSTGRES_CONNECTION"] = Infrastructure.PostgresConnection,
        ["PUBSUB_EMULATOR_HOST"] = Infrastructure.EmulatorHost,
        ["FP_TOPIC_PREFIX"] = topicPrefix,
    };

    /// <summary>
    /// The shortest retry policy the emulator honours: five deliveries, then the dead letter, within seconds. It gives up
    /// long before a zombie's row is stale, so a pipeline using it must waive the takeover check
    /// (<see cref="LocalPipelineOptions.AllowDeadLetterBeforeTakeover"/>): only tests of a message that fails on every
    /// delivery (a broken job, a Slack outage), where no worker dies mid-stage.
    /// </summary>
    public static readonly RetryPolicySpec DeadLetterRetryPolicy = new(TimeSpan.Zero, TimeSpan.FromSeconds(1));

    /// <summary>A job whose configuration makes Extract fail on every delivery (bucket_name 'Not A Bucket'), until dead-lettered.</summary>
    public async Task<string> CreateBrokenJobAsync()
    {
        var job = await CreateJobAsync();
        await using var cmd = DataSource.CreateCommand("UPDATE ingestion_job_config SET bucket_name = 'Not A Bucket' WHERE job_name = @job");
        cmd.Parameters.AddWithValue("job", job.JobName);
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        return job.JobName;
    }

    /// <param name="options">Adjusts the test defaults (e.g. the Slack webhook, a shorter retry policy).</param>
    public Task<LocalPipeline> StartPipelineAsync(
        Action<string, Microsoft.Extensions.DependencyInjection.IServiceCollection>? configure = null,
        Func<LocalPipelineOptions, LocalPipelineOptions>? options = null)
    {
        var defaults = new LocalPipelineOptions
        {
            Prefix = UniqueName("t") + "-",
            DataDirectory = Path.Combine(_dataRoot, Guid.NewGuid().ToString("N")),
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            StaleAfter = TimeSpan.FromSeconds(20),
            // Redeliveries 2, 4, 8 and 16 s apart: 30 s, past the 20 s threshold + 1 s heartbeat (DeliverySchedule), so a
            // zombie is taken over as in production; shorter than the product's 5–30 s so a retried stage is quick.
            RetryPolicy = new RetryPolicySpec(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(16)),
            ConfigureFunction = configure,
        };
        return LocalPipeline.StartAsync(Infrastructure, options is null ? defaults : options(defaults));
    }
}

/// <summary>A database created for one test; dropped, with whatever connections are still open to it, on dispose.</summary>
public sealed class ScratchDatabase(NpgsqlDataSource cluster, string name, string connectionString) : IAsyncDisposable
{
    public string ConnectionString => connectionString;

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var drop = cluster.CreateCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        await drop.ExecuteNonQueryAsync();
    }
}

[CollectionDefinition(nameof(StackFixture))]
public sealed class StackCollection : ICollectionFixture<StackFixture>;
