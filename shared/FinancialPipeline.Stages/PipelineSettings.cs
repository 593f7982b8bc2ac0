using System.Text.RegularExpressions;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Warehouse.BigQuery;
using Microsoft.Extensions.Configuration;

namespace FinancialPipeline.Stages;

/// <summary>Every setting of a function host, from environment variables (see README, Configuration).</summary>
public sealed partial record PipelineSettings
{
    public required string PostgresConnection { get; init; }

    public string ProjectId { get; init; } = "local-project";

    public string? PubSubEmulatorHost { get; init; }

    public string TopicPrefix { get; init; } = "fp-";

    public string DataDirectory { get; init; } = Path.GetFullPath(".fp");

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(90);

    public bool MigrateOnStart { get; init; } = true;

    /// <summary><c>filesystem</c> (buckets are directories under the data directory) or <c>gcs</c>.</summary>
    public string Storage { get; init; } = "filesystem";

    /// <summary>Base URL of the Yahoo chart API (a proxy, a mirror or a local server can stand in).</summary>
    public Uri? YahooBaseUrl { get; init; }

    /// <summary>Requests per second to Yahoo from one instance (shared by all its tickers).</summary>
    public double? YahooRequestsPerSecond { get; init; }

    /// <summary>Yahoo requests in flight at once from one instance.</summary>
    public int? YahooMaxConcurrency { get; init; }

    /// <summary>Gold warehouse: <c>duckdb</c> (local file, the default) or <c>bigquery</c> (FP_WAREHOUSE).</summary>
    public string Warehouse { get; init; } = DuckDbWarehouse;

    /// <summary>Project of the BigQuery datasets and jobs (FP_BQ_PROJECT, default the pipeline's project).</summary>
    public string? BigQueryProjectId { get; init; }

    /// <summary>Dataset holding financial_data_hour and the silver external table (FP_BQ_DATASET).</summary>
    public string BigQueryDataset { get; init; } = "financial_pipeline"; // the dataset `fp deploy` creates by default

    /// <summary>BigQuery job location (FP_BQ_LOCATION); must be the dataset's.</summary>
    public string BigQueryLocation { get; init; } = "US";

    /// <summary>
    /// The bucket the silver external table reads (FP_BQ_SILVER_BUCKET), bound into its URIs at deployment; required with
    /// the BigQuery warehouse, which merges only jobs whose <c>silver_bucket_name</c> it is.
    /// </summary>
    public string? BigQuerySilverBucket { get; init; }

    public const string DuckDbWarehouse = "duckdb";

    public const string BigQueryWarehouse = "bigquery";

    /// <summary>Scratch space of the Transform stage: bronze downloads and silver spill files (FP_WORK_DIR; default the system temp directory).</summary>
    public string? WorkDirectory { get; init; }

    public string BucketsRoot => Path.Combine(DataDirectory, "buckets");

    public string DuckDbPath => DuckDbPathIn(DataDirectory);

    /// <summary>Where the local gold DuckDB file of <paramref name="dataDirectory"/> lives.</summary>
    public static string DuckDbPathIn(string dataDirectory) => Path.Combine(Path.GetFullPath(dataDirectory), "warehouse", "gold.duckdb");

    public static PipelineSettings FromConfiguration(IConfiguration config)
    {
        var connection = config["FP_POSTGRES_CONNECTION"];
        if (string.IsNullOrWhiteSpace(connection))
        {
            throw new InvalidOperationException("FP_POSTGRES_CONNECTION is not set: it names the control database (e.g. Host=…;Username=…;Database=financial_pipeline).");
        }

        var defaults = new PipelineSettings { PostgresConnection = connection };
        var settings = defaults with
        {
            ProjectId = Matching(config, config["FP_PROJECT_ID"] is null ? "GOOGLE_CLOUD_PROJECT" : "FP_PROJECT_ID", defaults.ProjectId, ProjectIdPattern(), "a project id: 6-30 of a-z 0-9 -, a letter first, optionally after a domain and ':'"),
            PubSubEmulatorHost = EmulatorHost(config["PUBSUB_EMULATOR_HOST"]),
            TopicPrefix = ValidTopicPrefix(config["FP_TOPIC_PREFIX"], defaults.TopicPrefix),
            DataDirectory = Path.GetFullPath(DataDirectoryFrom(config["FP_DATA_DIR"]) ?? defaults.DataDirectory),
            HeartbeatInterval = Seconds(config, "FP_HEARTBEAT_SECONDS", defaults.HeartbeatInterval),
            StaleAfter = Seconds(config, "FP_STALE_AFTER_SECONDS", defaults.StaleAfter),
            MigrateOnStart = OneOf(config, "FP_MIGRATE_ON_START", "true", "true", "false") == "true",
            Storage = OneOf(config, "FP_STORAGE", defaults.Storage, "filesystem", "gcs"),
            YahooBaseUrl = YahooBaseUrlFrom(config["FP_YAHOO_BASE_URL"]),
            YahooRequestsPerSecond = config["FP_YAHOO_REQUESTS_PER_SECOND"] is null ? null : PositiveNumber(config, "FP_YAHOO_REQUESTS_PER_SECOND"),
            YahooMaxConcurrency = config["FP_YAHOO_MAX_CONCURRENCY"] is null ? null : PositiveWholeNumber(config, "FP_YAHOO_MAX_CONCURRENCY"),
            Warehouse = WarehouseFrom(config),
            BigQueryProjectId = config["FP_BQ_PROJECT"],
            BigQueryDataset = config["FP_BQ_DATASET"] ?? defaults.BigQueryDataset,
            // Empty is unset, as for FP_WAREHOUSE and FP_DATA_DIR.
            BigQueryLocation = config["FP_BQ_LOCATION"] is { Length: > 0 } location
                ? BigQueryNames.IsValidLocation(location) ? location : throw new InvalidOperationException($"FP_BQ_LOCATION='{location}' must be a BigQuery location such as US, EU or us-east4")
                : defaults.BigQueryLocation,
            BigQuerySilverBucket = config["FP_BQ_SILVER_BUCKET"] is { Length: > 0 } silver
                ? BucketNames.Problem(silver) is { } problem ? throw new InvalidOperationException($"FP_BQ_SILVER_BUCKET='{silver}' {problem}") : silver
                : null,
            WorkDirectory = config["FP_WORK_DIR"] is { Length: > 0 } work
                ? Path.IsPathFullyQualified(work) ? work : throw new InvalidOperationException($"FP_WORK_DIR='{work}' must be an absolute path")
                : null,
        };

        if (settings.Warehouse == BigQueryWarehouse)
        {
            // Gold checks each touched date's silver partition in the bucket the external table reads before its MERGE
            // deletes the hours silver no longer holds: that bucket must be named, and reached through GCS.
            if (settings.BigQuerySilverBucket is null)
            {
                throw new InvalidOperationException("FP_BQ_SILVER_BUCKET is not set: FP_WAREHOUSE=bigquery needs the bucket the external table financial_quotes_silver reads (the deployment's silver bucket)");
            }

            if (settings.Storage != "gcs")
            {
                throw new InvalidOperationException($"FP_STORAGE={settings.Storage}: FP_WAREHOUSE=bigquery reads silver in GCS, so it needs FP_STORAGE=gcs");
            }
        }

        // A running stage whose heartbeat is older than the threshold is taken over as a zombie: a threshold that
        // does not outlast a missed beat or two would take over healthy stages on every run.
        return settings.StaleAfter >= 2 * settings.HeartbeatInterval
            ? settings
            : throw new InvalidOperationException(
                $"FP_STALE_AFTER_SECONDS={settings.StaleAfter.TotalSeconds:0.###} must be at least twice FP_HEARTBEAT_SECONDS={settings.HeartbeatInterval.TotalSeconds:0.###}: a stage whose heartbeat is older is taken over as a zombie");
    }

    /// <summary>FP_DATA_DIR: null when unset, empty or blank (read as unset, as <c>export FP_DATA_DIR=</c> means), else as given.</summary>
    public static string? DataDirectoryFrom(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>FP_WAREHOUSE: <see cref="DuckDbWarehouse"/> when unset or blank, else duckdb or bigquery.</summary>
    /// <exception cref="InvalidOperationException">Anything else, naming the variable.</exception>
    public static string WarehouseFrom(IConfiguration config) => OneOf(config, "FP_WAREHOUSE", DuckDbWarehouse, DuckDbWarehouse, BigQueryWarehouse);

    /// <summary>FP_YAHOO_BASE_URL: null when unset or empty, else an absolute http(s) URL (an error naming the variable otherwise).</summary>
    public static Uri? YahooBaseUrlFrom(string? url) =>
        url is { Length: > 0 }
            ? Uri.TryCreate(url, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttps || u.Scheme == Uri.UriSchemeHttp) ? u : throw new InvalidOperationException($"FP_YAHOO_BASE_URL='{url}' must be an absolute http(s) URL")
            : null;

    private static string Matching(IConfiguration config, string key, string fallback, Regex pattern, string rule)
    {
        var raw = config[key];
        return raw is null ? fallback
            : pattern.IsMatch(raw) && !raw.StartsWith("goog", StringComparison.OrdinalIgnoreCase) ? raw
            : throw new InvalidOperationException($"{key}='{raw}' must be {rule}");
    }

    /// <summary>FP_TOPIC_PREFIX, or <paramref name="fallback"/> when unset.</summary>
    /// <exception cref="InvalidOperationException">Not a valid beginning of a topic name, naming the variable.</exception>
    public static string ValidTopicPrefix(string? value, string fallback) =>
        value is null ? fallback
        : TopicPrefixPattern().IsMatch(value) && !value.StartsWith("goog", StringComparison.OrdinalIgnoreCase) ? value
        : throw new InvalidOperationException($"FP_TOPIC_PREFIX='{value}' must be a letter, then A-Z a-z 0-9 - _ . ~ + %, not starting with goog (topic and subscription names begin with it)");

    /// <summary>PUBSUB_EMULATOR_HOST is <c>host:port</c>, as gcloud's emulator prints it; the client prefixes http://.</summary>
    /// <exception cref="InvalidOperationException">Anything else, naming the variable.</exception>
    public static string? EmulatorHost(string? value) =>
        string.IsNullOrWhiteSpace(value) ? null
        : HostPortPattern().Match(value) is { Success: true } m && int.Parse(m.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture) is >= 1 and <= 65535 ? value
        : throw new InvalidOperationException($"PUBSUB_EMULATOR_HOST='{value}' must be host:port (e.g. 127.0.0.1:8085), without a scheme or path");

    [GeneratedRegex(@"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*):(?<port>[0-9]{1,5})$", RegexOptions.CultureInvariant)]
    private static partial Regex HostPortPattern();

    [GeneratedRegex(@"^([a-z][a-z0-9.\-]*[a-z0-9]:)?[a-z][a-z0-9\-]{4,28}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex ProjectIdPattern();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9\-_.~+%]{0,200}$", RegexOptions.CultureInvariant)]
    private static partial Regex TopicPrefixPattern();

    private static string OneOf(IConfiguration config, string key, string fallback, params string[] allowed)
    {
        var raw = config[key];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        var value = raw.Trim().ToLowerInvariant();
        return allowed.Contains(value, StringComparer.Ordinal)
            ? value
            : throw new InvalidOperationException($"{key}='{raw}' must be one of {string.Join(", ", allowed)}");
    }

    /// <summary>Longest duration a seconds setting may name: a week, far beyond any sensible heartbeat or threshold.</summary>
    private const double MaxSeconds = 7 * 24 * 3600;

    private static double PositiveNumber(IConfiguration config, string key)
    {
        var raw = config[key];
        return double.TryParse(raw, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 && double.IsFinite(n)
            ? n
            : throw new InvalidOperationException($"{key}='{raw}' must be a positive number");
    }

    private static int PositiveWholeNumber(IConfiguration config, string key)
    {
        var raw = config[key];
        return int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new InvalidOperationException($"{key}='{raw}' must be a positive whole number");
    }

    private static TimeSpan Seconds(IConfiguration config, string key, TimeSpan fallback)
    {
        var raw = config[key];
        if (raw is null)
        {
            return fallback;
        }

        var seconds = PositiveNumber(config, key);
        return seconds <= MaxSeconds
            ? TimeSpan.FromSeconds(seconds)
            : throw new InvalidOperationException($"{key}='{raw}' must be at most {MaxSeconds:0} seconds (a week)");
    }
}
