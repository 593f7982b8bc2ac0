using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Warehouse;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Hosting;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Functions;
using FinancialPipeline.Stages.Runner;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;
using FinancialPipeline.Storage.Gcs;
using FinancialPipeline.Warehouse;
using FinancialPipeline.Warehouse.BigQuery;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Core.Tests;

/// <summary>The FP_* variables choose and configure a host's services (gold warehouse, Transform's work directory).</summary>
public sealed class HostConfigurationTests
{
    [Fact]
    public void Default_is_DuckDb_in_the_data_directory()
    {
        using var provider = Build(new Dictionary<string, string?>());

        Assert.IsType<DuckDbGoldWarehouse>(provider.GetRequiredService<IGoldWarehouse>());
    }

    [Fact]
    public void BigQuery_is_selected_with_its_project_dataset_and_location()
    {
        var settings = Settings(new Dictionary<string, string?>
        {
            ["FP_WAREHOUSE"] = "BigQuery",
            ["FP_PROJECT_ID"] = "fp-prod-123",
            ["FP_BQ_DATASET"] = "markets",
            ["FP_BQ_LOCATION"] = "us-east4",
            ["FP_BQ_SILVER_BUCKET"] = "fp-prod-123-fp-silver",
            ["FP_STORAGE"] = "gcs",
        });
        using var provider = Build(settings);

        var warehouse = Assert.IsType<BigQueryGoldWarehouse>(provider.GetRequiredService<IGoldWarehouse>());
        Assert.Equal("fp-prod-123.markets.financial_data_hour", warehouse.TableName);
        Assert.Equal("us-east4", settings.BigQueryLocation);
        Assert.Equal("fp-prod-123-fp-silver", settings.BigQuerySilverBucket);
    }

    [Theory]
    [InlineData("FP_WAREHOUSE", "snowflake", "FP_WAREHOUSE='snowflake'")]
    [InlineData("FP_BQ_DATASET", "markets-eu", "FP_BQ_DATASET")]

    // Was: no such setting; the MERGE read whatever bucket the external table was bound to, whatever the job's.
    [InlineData("FP_BQ_SILVER_BUCKET", "Silver_Bucket", "FP_BQ_SILVER_BUCKET='Silver_Bucket' is not a valid bucket name")]
    [InlineData("FP_BQ_SILVER_BUCKET", null, "FP_BQ_SILVER_BUCKET is not set: FP_WAREHOUSE=bigquery needs the bucket the external table")]
    [InlineData("FP_STORAGE", "filesystem", "FP_STORAGE=filesystem: FP_WAREHOUSE=bigquery reads silver in GCS")]
    public void Invalid_setting_fails_start_naming_the_variable(string key, string? value, string expected)
    {
        var values = new Dictionary<string, string?>
        {
            ["FP_WAREHOUSE"] = "bigquery",
            ["FP_PROJECT_ID"] = "fp-prod-123",
            ["FP_BQ_SILVER_BUCKET"] = "fp-prod-123-fp-silver",
            ["FP_STORAGE"] = "gcs",
            [key] = value,
        };

        var error = Assert.Throws<InvalidOperationException>(() => Build(Settings(values)).Dispose());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PORT", "80a", "PORT='80a' must be a port number")]
    [InlineData("PORT", "70000", "PORT='70000' must be a port number")]
    [InlineData("FP_LOG_FORMAT", "yaml", "FP_LOG_FORMAT='yaml' must be text or json")]
    [InlineData("DOTNET_RUNNING_IN_CONTAINER", "yes", "DOTNET_RUNNING_IN_CONTAINER='yes' must be true or false")]
    public void Invalid_host_setting_fails_the_start_naming_the_variable(string key, string value, string expected)
    {
        var error = Assert.Throws<InvalidOperationException>(() => FunctionHost.CreateBuilder([$"--{key}={value}"]));

        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FP_TOPIC_PREFIX", "fp/../", "FP_TOPIC_PREFIX='fp/../' must be a letter")]
    [InlineData("FP_TOPIC_PREFIX", "goog-", "FP_TOPIC_PREFIX='goog-'")]
    [InlineData("FP_PROJECT_ID", "My Project", "FP_PROJECT_ID='My Project' must be a project id")]
    [InlineData("GOOGLE_CLOUD_PROJECT", "p", "GOOGLE_CLOUD_PROJECT='p' must be a project id")]
    [InlineData("PUBSUB_EMULATOR_HOST", "http://127.0.0.1:8085", "PUBSUB_EMULATOR_HOST='http://127.0.0.1:8085' must be host:port")]
    [InlineData("PUBSUB_EMULATOR_HOST", "127.0.0.1", "PUBSUB_EMULATOR_HOST='127.0.0.1' must be host:port")]
    [InlineData("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085/x", "PUBSUB_EMULATOR_HOST='127.0.0.1:8085/x' must be host:port")]
    [InlineData("PUBSUB_EMULATOR_HOST", "127.0.0.1:70000", "PUBSUB_EMULATOR_HOST='127.0.0.1:70000' must be host:port")]

    // Were: 0.5 concurrency truncated to 0, an infinite or huge number of seconds an OverflowException with a stack
    // trace, and a bad location accepted until the first MERGE.
    [InlineData("FP_YAHOO_MAX_CONCURRENCY", "0.5", "FP_YAHOO_MAX_CONCURRENCY='0.5' must be a positive whole number")]
    [InlineData("FP_YAHOO_MAX_CONCURRENCY", "2.7", "FP_YAHOO_MAX_CONCURRENCY='2.7' must be a positive whole number")]
    [InlineData("FP_YAHOO_REQUESTS_PER_SECOND", "Infinity", "FP_YAHOO_REQUESTS_PER_SECOND='Infinity' must be a positive number")]
    [InlineData("FP_HEARTBEAT_SECONDS", "1e12", "FP_HEARTBEAT_SECONDS='1e12' must be at most 604800 seconds")]
    [InlineData("FP_STALE_AFTER_SECONDS", "Infinity", "FP_STALE_AFTER_SECONDS='Infinity' must be a positive number")]
    [InlineData("FP_STALE_AFTER_SECONDS", "NaN", "FP_STALE_AFTER_SECONDS='NaN' must be a positive number")]
    [InlineData("FP_BQ_LOCATION", "bad loc", "FP_BQ_LOCATION='bad loc' must be a BigQuery location")]
    [InlineData("FP_BQ_LOCATION", " us-east4", "FP_BQ_LOCATION=' us-east4' must be a BigQuery location")]
    public void Invalid_pipeline_setting_fails_naming_the_variable(string key, string value, string expected)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Settings(new Dictionary<string, string?> { [key] = value }));

        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_BigQuery_location_is_unset() =>
        Assert.Equal("US", Settings(new Dictionary<string, string?> { ["FP_BQ_LOCATION"] = "" }).BigQueryLocation);

    [Theory]
    [InlineData("Logging:LogLevel:Default", "loud", "Logging__LogLevel__Default='loud' must be one of Trace, Debug, Information, Warning, Error, Critical, None")]
    [InlineData("Logging:Console:LogLevel:Npgsql", "verbose", "Logging__Console__LogLevel__Npgsql='verbose' must be one of")]
    public void A_bad_log_level_fails_the_start_naming_its_variable(string key, string value, string expected)
    {
        var error = Assert.Throws<InvalidOperationException>(() => FunctionHost.CreateBuilder([$"--{key}={value}"]));

        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
        Assert.NotNull(FunctionHost.CreateBuilder(["--Logging:LogLevel:Npgsql=warning", "--Logging:LogLevel:Default=3", "--Logging:LogLevel:Microsoft="]));
    }

    [Fact]
    public void Options_checked_when_the_host_starts_fail_its_build_naming_the_variable()
    {
        // The Transform host on GCS with an emulator host that is neither host:port nor a URL. Was: accepted at start
        // (nothing ran ValidateOnStart once the host stopped being the generic host) and failing every run.
        // (GcsOptions reads STORAGE_EMULATOR_HOST from the process environment; set here through the options instead.)
        string[] args = ["--FP_POSTGRES_CONNECTION=Host=127.0.0.1;Port=9", "--FP_STORAGE=gcs"];

        var error = Assert.Throws<InvalidOperationException>(() => PipelineServices.BuildFunctionHost<TransformFunction>(
            args, TransformFunction.Name, port: 0, configure: s => s.AddOptions<GcsOptions>().Configure(o => o.EmulatorHost = "bad host:port")));

        Assert.StartsWith("invalid settings: STORAGE_EMULATOR_HOST 'bad host:port'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Valid_pubsub_naming_is_taken_as_given()
    {
        var settings = Settings(new Dictionary<string, string?>
        {
            ["FP_PROJECT_ID"] = "example.com:fp-prod-123",
            ["FP_TOPIC_PREFIX"] = "t1a2b3c-",
            ["PUBSUB_EMULATOR_HOST"] = "localhost:8085",
        });

        Assert.Equal(("example.com:fp-prod-123", "t1a2b3c-", "localhost:8085"), (settings.ProjectId, settings.TopicPrefix, settings.PubSubEmulatorHost));
        Assert.Equal("local-project", Settings([]).ProjectId);
        Assert.Equal("[::1]:80", Settings(new Dictionary<string, string?> { ["PUBSUB_EMULATOR_HOST"] = "[::1]:80" }).PubSubEmulatorHost);
        Assert.Equal("gcp-from-env", Settings(new Dictionary<string, string?> { ["GOOGLE_CLOUD_PROJECT"] = "gcp-from-env" }).ProjectId);
    }

    [Theory]
    [InlineData("false", false)]
    [InlineData("FALSE", false)]
    [InlineData("true", true)]
    [InlineData(null, true)]
    public void Migrate_on_start_is_true_or_false(string? value, bool expected)
    {
        Assert.Equal(expected, Settings(new Dictionary<string, string?> { ["FP_MIGRATE_ON_START"] = value }).MigrateOnStart);
        var error = Assert.Throws<InvalidOperationException>(() => Settings(new Dictionary<string, string?> { ["FP_MIGRATE_ON_START"] = "flase" }));
        Assert.StartsWith("FP_MIGRATE_ON_START='flase' must be one of true, false", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("15", "90", true)]
    [InlineData("10", "20", true)]
    [InlineData("15", "20", false)]
    [InlineData("50", null, false)] // a heartbeat slower than half the default 90 s threshold
    public void Stale_threshold_outlasts_two_heartbeats(string heartbeat, string? staleAfter, bool valid)
    {
        var values = new Dictionary<string, string?> { ["FP_HEARTBEAT_SECONDS"] = heartbeat, ["FP_STALE_AFTER_SECONDS"] = staleAfter };
        if (valid)
        {
            Assert.Equal(TimeSpan.FromSeconds(int.Parse(heartbeat, CultureInfo.InvariantCulture)), Settings(values).HeartbeatInterval);
            return;
        }

        var error = Assert.Throws<InvalidOperationException>(() => Settings(values));
        Assert.StartsWith($"FP_STALE_AFTER_SECONDS={staleAfter ?? "90"} must be at least twice FP_HEARTBEAT_SECONDS={heartbeat}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Work_directory_reaches_the_silver_engine()
    {
        var work = Path.Combine(Path.GetTempPath(), "fp-work-volume");
        using var provider = Build(new Dictionary<string, string?> { ["FP_WORK_DIR"] = work });

        using var defaults = Build(new Dictionary<string, string?>());

        Assert.Equal(work, provider.GetRequiredService<SilverEngineOptions>().WorkDirectory);
        Assert.Null(defaults.GetRequiredService<SilverEngineOptions>().WorkDirectory);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void An_empty_data_directory_is_read_as_unset(string value)
    {
        // Was: Path.GetFullPath("") threw ArgumentException out of every host and fp command (a stack trace, exit 134).
        var settings = Settings(new Dictionary<string, string?> { ["FP_DATA_DIR"] = value });

        Assert.Equal(Path.GetFullPath(".fp"), settings.DataDirectory);
        Assert.Equal(Path.GetFullPath("/srv/fp"), Settings(new Dictionary<string, string?> { ["FP_DATA_DIR"] = "/srv/fp" }).DataDirectory);
    }

    [Theory]
    [InlineData(99999)]
    [InlineData(65536)]
    public void A_port_outside_the_tcp_range_fails_naming_the_variable(int port)
    {
        // Npgsql takes any integer and failed only at the first open, with a stack trace that named nothing.
        var error = Assert.Throws<InvalidOperationException>(() => ControlDbDataSource.Create($"Host=127.0.0.1;Port={port};Password=s3cret"));

        Assert.Equal($"FP_POSTGRES_CONNECTION is not a valid Npgsql connection string (its Port, {port}, is outside 1-65535)", error.Message);
    }

    [Fact]
    public void Relative_work_directory_fails_start_naming_the_variable()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Settings(new Dictionary<string, string?> { ["FP_WORK_DIR"] = "scratch" }));

        Assert.StartsWith("FP_WORK_DIR='scratch'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Password=s3cret;Maximum", "part 3 of 3 has no '='")]                                          // a value split by an unquoted export
    [InlineData("Host=127.0.0.1;Password=s3cret;Colour=blue", "part 3 of 3: its keyword is not one Npgsql knows")]             // a keyword Npgsql does not know
    [InlineData("Host=127.0.0.1;Password=s3cret;Port=fivefourthreetwo", "part 3 of 3: the value of Port is not valid")]        // a value of the wrong type
    [InlineData("Host=127.0.0.1;Password=Tr0ub4dor;x9QzSecret;Database=fp", "part 3 of 4 has no '='")] // an unquoted ';' inside the password
    public void Malformed_connection_string_fails_naming_the_variable_and_the_part_without_repeating_it(string connection, string fault)
    {
        var error = Assert.Throws<InvalidOperationException>(() => ControlDbDataSource.Create(connection));

        Assert.StartsWith($"FP_POSTGRES_CONNECTION is not a valid Npgsql connection string ({fault});", error.Message, StringComparison.Ordinal);
        foreach (var secret in new[] { "s3cret", "Tr0ub4dor", "x9QzSecret", "blue", "fivefourthreetwo" })
        {
            Assert.DoesNotContain(secret, error.Message, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void Functions_build_their_stage_body_and_publisher_only_when_a_claimed_run_needs_them()
    {
        // A rejected, busy or already-done message must not pay for the body's clients on a cold host, nor for the
        // publisher's HTTP client and retry pipeline: the runner publishes only after a stage succeeds.
        // The store's own temp directory, not the temp folder itself: anything it ever wrote would stay inside fp-*
        // (which the CI's litter check covers) and is removed with it.
        var root = Directory.CreateTempSubdirectory("fp-host-config-");
        try
        {
            BuildsOnlyWhatAClaimedRunNeeds(root.FullName);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    private static void BuildsOnlyWhatAClaimedRunNeeds(string storeRoot)
    {
        var stores = 0;
        var publishers = 0;
        var warehouses = 0;
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IObjectStore>(_ =>
        {
            stores++;
            return new FileSystemObjectStore(storeRoot);
        });
        services.AddSingleton<IGoldWarehouse>(_ =>
        {
            warehouses++;
            throw new InvalidOperationException("the warehouse is built only for a MERGE");
        });
        services.AddSingleton<IPublisherClient>(_ =>
        {
            publishers++;
            return PubSubRestClient.Create(new PubSubOptions { ProjectId = "p", EmulatorHost = "127.0.0.1:1" });
        });
        services.AddPipeline(Settings(new Dictionary<string, string?>()) with { MigrateOnStart = false });
        using var provider = services.BuildServiceProvider();

        provider.GetRequiredService<ExtractFunction>();
        provider.GetRequiredService<TransformFunction>();
        provider.GetRequiredService<AggregateFunction>();
        Assert.Equal(0, stores);
        Assert.Equal(0, publishers);
        Assert.Same(provider.GetRequiredService<IPublisherClient>(), provider.GetRequiredService<Lazy<IPublisherClient>>().Value);
        Assert.Equal(1, publishers);

        Assert.Equal(provider.GetRequiredService<ExtractWork>().Stage, provider.GetRequiredService<DeferredWork<ExtractWork>>().Stage);
        Assert.Equal(provider.GetRequiredService<TransformWork>().Stage, provider.GetRequiredService<DeferredWork<TransformWork>>().Stage);
        Assert.Equal(provider.GetRequiredService<AggregateWork>().Stage, provider.GetRequiredService<DeferredWork<AggregateWork>>().Stage);
        Assert.Equal(1, stores);

        // Aggregate checks a silver event's touched dates before its claim without building the warehouse client.
        var silver = StageCompletedMessage.Parse(System.Text.Encoding.UTF8.GetBytes($$"""
            {"schema_version":1,"execution_id":"{{Guid.NewGuid()}}","job_name":"financial_extract","stage":"silver",
             "window":{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"},"records":{"in":1,"written":1,"rejected":0},
             "outputs":[],"touched_dates":["1969-12-31"],"metrics":{},"failed_tickers":[],"attempt":1,"completed_at":"2026-11-21T00:01:00Z"}
            """), Stage.Silver);
        var job = JobConfig.Create("financial_extract", "AAPL", 3600, 10800, "fp-bronze", "fp-silver", "synthetic", "1h", null, true);
        var input = new StageInput(silver.ExecutionId, silver.JobName, silver.Window.ToWindow(), silver);
        var rejected = Assert.Throws<MessageRejectedException>(() => provider.GetRequiredService<DeferredWork<AggregateWork>>().RejectUnrunnable(job, input));
        Assert.Equal("touched_dates[0]", rejected.Field);
        Assert.Equal(0, warehouses);
    }

    [Fact]
    public void A_publisher_that_failed_to_build_is_built_again_at_the_next_publish()
    {
        var attempts = 0;
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IPublisherClient>(_ => ++attempts == 1
            ? throw new InvalidOperationException("credentials not mounted yet")
            : PubSubRestClient.Create(new PubSubOptions { ProjectId = "p", EmulatorHost = "127.0.0.1:1" }));
        services.AddPipeline(Settings(new Dictionary<string, string?>()) with { MigrateOnStart = false });
        using var provider = services.BuildServiceProvider();
        var publisher = provider.GetRequiredService<Lazy<IPublisherClient>>();

        Assert.Throws<InvalidOperationException>(() => publisher.Value);
        Assert.NotNull(publisher.Value);
        Assert.Equal(2, attempts);
    }

    [Fact]
    public void A_function_host_reads_no_configuration_file()
    {
        // A function is configured by its environment: no settings file is read, so none is watched (reloading one
        // watched the content root recursively, and a content root left at the working directory made every host
        // of `fp run` walk the whole repository).
        Environment.SetEnvironmentVariable("FP_HOST_CONFIGURATION_TEST", "from-env");
        var builder = FunctionHost.CreateBuilder(["--PORT=1234"], port: 0);

        Assert.Empty(builder.Configuration.Sources.OfType<FileConfigurationSource>());
        Assert.Equal("1234", builder.Configuration["PORT"]); // the caller's arguments count
        Assert.Equal("from-env", builder.Configuration["FP_HOST_CONFIGURATION_TEST"]); // and the environment
    }

    [Fact]
    public async Task A_function_hosts_log_levels_come_from_its_configuration()
    {
        await using var quiet = FunctionHost.CreateBuilder(["--Logging:LogLevel:Default=Warning"], port: 0).Build();
        await using var normal = FunctionHost.CreateBuilder([], port: 0).Build();

        Assert.False(quiet.Services.GetRequiredService<ILoggerFactory>().CreateLogger("fp").IsEnabled(LogLevel.Information));
        Assert.True(quiet.Services.GetRequiredService<ILoggerFactory>().CreateLogger("fp").IsEnabled(LogLevel.Warning));
        Assert.True(normal.Services.GetRequiredService<ILoggerFactory>().CreateLogger("fp").IsEnabled(LogLevel.Information));
        Assert.False(normal.Services.GetRequiredService<ILoggerFactory>().CreateLogger("fp").IsEnabled(LogLevel.Debug));
    }

    private static PipelineSettings Settings(Dictionary<string, string?> values)
    {
        values.TryAdd("FP_POSTGRES_CONNECTION", "Host=127.0.0.1;Username=fp;Database=fp");
        return PipelineSettings.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }

    private static ServiceProvider Build(Dictionary<string, string?> values) => Build(Settings(values));

    private static ServiceProvider Build(PipelineSettings settings)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddPipeline(settings with { MigrateOnStart = false });
        return services.BuildServiceProvider();
    }
}
