using System.Globalization;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Alerts;
using Microsoft.Extensions.Configuration;

namespace FinancialPipeline.Cli;

/// <summary>
/// The function hosts' variables as <c>fp run</c> and <c>fp up</c> apply them to their local stack. Each is checked
/// as a function host checks it (<see cref="PipelineSettings.FromConfiguration"/>), before anything starts. Those
/// that make sense locally are used; those the local stack must override are named in one note.
/// </summary>
internal static class LocalStackSettings
{
    /// <summary>
    /// What the local stack always decides itself: buckets on the filesystem and gold in DuckDB under the data
    /// directory (no cloud account, so no BigQuery setting applies), migrations applied once by the stack before its
    /// hosts start.
    /// </summary>
    private static bool IsOverridden(string name) =>
        name is "FP_STORAGE" or "FP_WAREHOUSE" or "FP_MIGRATE_ON_START" || name.StartsWith("FP_BQ_", StringComparison.Ordinal);

    private const string HeartbeatVariable = "FP_HEARTBEAT_SECONDS";

    private const string StaleAfterVariable = "FP_STALE_AFTER_SECONDS";

    /// <summary>
    /// <paramref name="options"/> with the variables the local stack honours applied, or null after one line naming a
    /// malformed one (the caller exits 2). Unset, the heartbeat and the zombie threshold keep the local defaults of
    /// <paramref name="options"/> (short, so a local takeover shows in seconds), and the pair is checked with them.
    /// </summary>
    public static LocalPipelineOptions? TryApply(string command, LocalPipelineOptions options)
    {
        var environment = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        var local = new Dictionary<string, string?>();
        if (string.IsNullOrWhiteSpace(environment["FP_POSTGRES_CONNECTION"]))
        {
            // Not read here: the stack starts its own cluster when it is unset, and parses a given one as it starts.
            local["FP_POSTGRES_CONNECTION"] = "Host=127.0.0.1";
        }

        AddDefault(environment, local, HeartbeatVariable, options.HeartbeatInterval);
        AddDefault(environment, local, StaleAfterVariable, options.StaleAfter);
        // The local stack's gold is DuckDB whatever FP_WAREHOUSE says: its value is checked on its own, and the rules
        // that tie bigquery to FP_STORAGE=gcs and FP_BQ_SILVER_BUCKET do not apply to a stack that ignores all three.
        local["FP_WAREHOUSE"] = PipelineSettings.DuckDbWarehouse;
        var config = new ConfigurationBuilder().AddConfiguration(environment).AddInMemoryCollection(local).Build();
        PipelineSettings settings;
        try
        {
            _ = PipelineSettings.WarehouseFrom(environment);
            settings = PipelineSettings.FromConfiguration(config);
            AlertSettings.FromConfiguration(environment);
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"fp {command}: could not start the local stack: {ex.Message}");
            return null;
        }

        var ignored = environment.AsEnumerable()
            .Where(v => IsOverridden(v.Key) && !string.IsNullOrWhiteSpace(v.Value))
            .Select(v => v.Key)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (ignored.Count > 0)
        {
            Console.WriteLine($"note: {string.Join(", ", ignored)} ignored by fp run and fp up: the local stack keeps buckets on the filesystem and gold in DuckDB under the data directory, and applies the migrations itself");
        }

        var applied = options with
        {
            Prefix = environment["FP_TOPIC_PREFIX"] is null ? options.Prefix : settings.TopicPrefix,
            ProjectId = (environment["FP_PROJECT_ID"] ?? environment["GOOGLE_CLOUD_PROJECT"]) is null ? options.ProjectId : settings.ProjectId,
            HeartbeatInterval = settings.HeartbeatInterval,
            StaleAfter = settings.StaleAfter,
            YahooBaseUrl = options.YahooBaseUrl ?? settings.YahooBaseUrl,
            YahooRequestsPerSecond = options.YahooRequestsPerSecond ?? settings.YahooRequestsPerSecond,
            YahooMaxConcurrency = options.YahooMaxConcurrency ?? settings.YahooMaxConcurrency,
            WorkDirectory = options.WorkDirectory ?? settings.WorkDirectory,
        };
        // A zombie threshold the local subscriptions' redeliveries do not outlast would leave a crashed worker's row to a
        // replay: their backoff is lengthened to outlast it (said in a note), and one no policy outlasts is refused
        // here, before anything starts, like a threshold under twice the heartbeat.
        var retry = DeliverySchedule.Outlasting(applied.RetryPolicy, applied.MaxDeliveryAttempts, applied.StaleAfter, applied.HeartbeatInterval);
        if (retry != applied.RetryPolicy)
        {
            applied = applied with { RetryPolicy = retry };
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"note: FP_STALE_AFTER_SECONDS={applied.StaleAfter.TotalSeconds:0}: the local subscriptions redeliver after {string.Join(", ", DeliverySchedule.Backoffs(retry, applied.MaxDeliveryAttempts).Select(b => b.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)))} s, so a crashed worker's message outlasts the threshold and is taken over"));
        }

        if (LocalPipeline.TakeoverProblem(applied) is { } problem)
        {
            Console.Error.WriteLine($"fp {command}: could not start the local stack: {problem}");
            return null;
        }

        return applied;
    }

    private static void AddDefault(IConfiguration environment, Dictionary<string, string?> local, string name, TimeSpan value)
    {
        if (environment[name] is null)
        {
            local[name] = value.TotalSeconds.ToString(CultureInfo.InvariantCulture);
        }
    }
}
