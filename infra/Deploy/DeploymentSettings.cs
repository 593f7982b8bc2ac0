using System.Text.RegularExpressions;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Deploy;

/// <summary>
/// Everything a GCP deployment needs besides the topology. Names of functions and service accounts derive from
/// <see cref="Prefix"/> (the same prefix as the topics), so one prefix gives one independent deployment.
/// </summary>
public sealed partial record DeploymentSettings
{
    public required string ProjectId { get; init; }

    public string Region { get; init; } = "us-east4";

    /// <summary>Prefix of topics, subscriptions, functions, triggers and service accounts (<c>FP_TOPIC_PREFIX</c>).</summary>
    public string Prefix { get; init; } = "fp-";

    public required string BronzeBucket { get; init; }

    public required string SilverBucket { get; init; }

    /// <summary>Location of the buckets (a region or multi-region); the region of the functions by default.</summary>
    public string? BucketLocation { get; init; }

    public string BigQueryDataset { get; init; } = "financial_pipeline";

    public string BigQueryLocation { get; init; } = "US";

    /// <summary>Cloud SQL for PostgreSQL instance (in <see cref="ProjectId"/> and <see cref="Region"/>) holding the control DB.</summary>
    public string CloudSqlInstance { get; init; } = "fp-control";

    /// <summary>Machine tier of the Cloud SQL instance when the plan creates it (Enterprise edition).</summary>
    public string CloudSqlTier { get; init; } = "db-custom-1-3840";

    /// <summary>PostgreSQL major version of the Cloud SQL instance when the plan creates it (the tests run on 15).</summary>
    public string CloudSqlDatabaseVersion { get; init; } = "POSTGRES_15";

    /// <summary>Database of the control tables on the instance; the functions migrate it on start.</summary>
    public string ControlDatabase { get; init; } = "financial_pipeline";

    /// <summary>
    /// PostgreSQL user the functions connect as. The plan creates it (or resets its password) with a password
    /// generated at apply time, only while <see cref="PostgresSecret"/> has no version.
    /// </summary>
    public string ControlDbUser { get; init; } = "fp_app";

    /// <summary>Secret Manager secret whose latest version is the Npgsql connection string (<c>FP_POSTGRES_CONNECTION</c>).</summary>
    public string PostgresSecret { get; init; } = "fp-postgres-connection";

    /// <summary>Secret Manager secret whose latest version is the Slack incoming-webhook URL of the Alert function.</summary>
    public string SlackWebhookSecret { get; init; } = "fp-slack-webhook";

    /// <summary>Cloud Run base image (runtime id) of the functions; the projects' TargetFramework must match.</summary>
    public string BaseImage { get; init; } = "dotnet10";

    public int MaxInstances { get; init; } = 10;

    /// <summary>The most <see cref="MaxInstances"/> may be.</summary>
    public const int MaxInstancesLimit = 1000;

    /// <summary>
    /// Days after which a lifecycle rule of <see cref="BronzeBucket"/> deletes bronze objects (names starting
    /// <see cref="ObjectLayout.BronzeRootPrefix"/>); null: the plan sets no lifecycle and leaves the bucket's own as it is.
    /// Transform reads the bronze objects its event names on every retry or redelivery of that event, so they must
    /// outlive the longest a message can wait (<see cref="MinBronzeRetentionDays"/>). A silver replay of an execution
    /// older than this fails naming the missing object; a bronze replay extracts it again.
    /// </summary>
    public int? BronzeRetentionDays { get; init; }

    /// <summary>One day past the longest the pipeline's subscriptions keep an undelivered message (<see cref="SubscriptionSpec.MaxMessageRetention"/>, the topology's cap).</summary>
    public static readonly int MinBronzeRetentionDays = (int)SubscriptionSpec.MaxMessageRetention.TotalDays + 1;

    /// <summary>A hundred years: beyond it a typing slip is likelier than a wish.</summary>
    public const int MaxBronzeRetentionDays = 36_500;

    /// <summary>
    /// The zombie threshold the functions are deployed with (<c>FP_STALE_AFTER_SECONDS</c>, set on every function that
    /// uses the control database): a RUNNING row whose heartbeat is older is taken over by the next delivery.
    /// </summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>The functions' heartbeat interval (<c>FP_HEARTBEAT_SECONDS</c>); <see cref="StaleAfter"/> is at least twice it.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Retry policy of the stage subscriptions (Pub/Sub's default, 10 s doubling to 600 s).</summary>
    public RetryPolicySpec RetryPolicy { get; init; } = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(600));

    /// <summary>
    /// Deliveries of a stage message before it is dead-lettered. With <see cref="RetryPolicy"/> they must outlast
    /// <see cref="StaleAfter"/> + <see cref="HeartbeatInterval"/> (<see cref="DeliverySchedule"/>): 10 + 20 + 40 + 80 = 150 s
    /// against 90 + 15 s by default.
    /// </summary>
    public int MaxDeliveryAttempts { get; init; } = 5;

    /// <summary>Repository root: uploaded as the build source (each function is built with GOOGLE_BUILDABLE).</summary>
    public required string RepositoryRoot { get; init; }

    /// <summary>BigQuery DDL, relative to <see cref="RepositoryRoot"/>.</summary>
    public string BigQuerySqlDirectory { get; init; } = "sql/bigquery";

    public static DeploymentSettings ForProject(string projectId, string repositoryRoot) => new()
    {
        ProjectId = projectId,
        BronzeBucket = $"{projectId}-fp-bronze",
        SilverBucket = $"{projectId}-fp-silver",
        RepositoryRoot = repositoryRoot,
    };

    public string EffectiveBucketLocation => BucketLocation ?? Region;

    /// <summary>The service account Eventarc triggers use to call the functions; it holds run.invoker and nothing else.</summary>
    public string InvokerServiceAccountId => Prefix + "invoker";

    /// <summary>The service account the source deploys build with; it holds run.builder and nothing else.</summary>
    public string BuilderServiceAccountId => Prefix + "builder";

    public string ServiceAccountEmail(string accountId) => $"{accountId}@{ProjectId}.iam.gserviceaccount.com";

    public string CloudSqlConnectionName => $"{ProjectId}:{Region}:{CloudSqlInstance}";

    /// <summary>
    /// Connections one function instance may hold. Each ledger statement borrows one for its own duration, so a few
    /// serve many concurrent requests; a burst beyond them waits for a free one instead of using up the server's slots.
    /// </summary>
    public const int ControlDbPoolSize = 5;

    /// <summary>Connections kept for operators (<c>fp</c>, psql) and Cloud SQL's own (superuser-reserved) ones.</summary>
    public const int ControlDbSpareConnections = 25;

    /// <summary>
    /// The Npgsql connection string stored in <see cref="PostgresSecret"/>: the Unix socket Cloud Run mounts for
    /// <c>--add-cloudsql-instances</c> (encrypted by the connector), with <paramref name="password"/> and a pool of
    /// <see cref="ControlDbPoolSize"/>.
    /// </summary>
    public string ControlDbConnectionString(string password) =>
        $"Host=/cloudsql/{CloudSqlConnectionName};Database={ControlDatabase};Username={ControlDbUser};Password={password};Maximum Pool Size={ControlDbPoolSize}";

    /// <summary>
    /// The <c>max_connections</c> flag of the instance the plan creates: every instance of every service holding its
    /// whole pool, plus the spare ones. Cloud SQL's default follows the tier's memory (100 for db-custom-1-3840),
    /// below what <paramref name="services"/> × <see cref="MaxInstances"/> pools can open at once.
    /// </summary>
    public int ControlDbMaxConnections(int services) => (services * MaxInstances * ControlDbPoolSize) + ControlDbSpareConnections;

    /// <summary>Checks every name against the rule of the service that will receive it; the error names the setting.</summary>
    public DeploymentSettings Validate()
    {
        Check(nameof(ProjectId), ProjectId, ProjectIdRule(), "6–30 characters: lowercase letters, digits, hyphens; starts with a letter");
        Check(nameof(Region), Region, RegionRule(), "a region such as us-east4");
        Check(nameof(Prefix), Prefix, PrefixRule(), "1–12 characters: lowercase letters, digits, hyphens; starts with a letter");
        // The one bucket rule the job rows and the stores are held to, GCS's own included (no 'google', no IP address).
        foreach (var (setting, bucket) in new[] { (nameof(BronzeBucket), BronzeBucket), (nameof(SilverBucket), SilverBucket) })
        {
            if (BucketNames.Problem(bucket) is { } problem)
            {
                throw new ArgumentException($"{setting}: '{bucket}' {problem}");
            }
        }

        if (BronzeBucket == SilverBucket)
        {
            throw new ArgumentException($"{nameof(SilverBucket)}: must differ from {nameof(BronzeBucket)} ('{BronzeBucket}')");
        }

        Check(nameof(BucketLocation), EffectiveBucketLocation, LocationRule(), "a region or multi-region such as us-east4 or US");
        Check(nameof(BigQueryDataset), BigQueryDataset, DatasetRule(), "1–1024 letters, digits, underscores");
        Check(nameof(BigQueryLocation), BigQueryLocation, LocationRule(), "a region or multi-region such as US or us-east4");
        if (!CanQueryBucketsIn(BigQueryLocation, EffectiveBucketLocation))
        {
            throw new ArgumentException(
                $"{nameof(BigQueryLocation)}: '{BigQueryLocation}' cannot query buckets in {nameof(BucketLocation)} '{EffectiveBucketLocation}' " +
                $"({nameof(BucketLocation)} defaults to {nameof(Region)}; use one location for both, or US for a us-* region, EU for a region in an EU member state)");
        }

        Check(nameof(CloudSqlInstance), CloudSqlInstance, CloudSqlRule(), "1–98 characters: lowercase letters, digits, hyphens; starts with a letter");
        Check(nameof(CloudSqlTier), CloudSqlTier, CloudSqlTierRule(), "a Cloud SQL tier such as db-custom-1-3840 or db-g1-small");
        Check(nameof(CloudSqlDatabaseVersion), CloudSqlDatabaseVersion, PostgresVersionRule(), "POSTGRES_ and a major version, such as POSTGRES_15");
        Check(nameof(ControlDatabase), ControlDatabase, DatabaseNameRule(), "1–63 characters: lowercase letters, digits, underscores; starts with a letter or underscore");
        Check(nameof(ControlDbUser), ControlDbUser, DatabaseNameRule(), "1–63 characters: lowercase letters, digits, underscores; starts with a letter or underscore");
        if (ControlDbUser is "postgres" || ControlDbUser.StartsWith("cloudsql", StringComparison.Ordinal) || ControlDbUser.StartsWith("pg_", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{nameof(ControlDbUser)}: '{ControlDbUser}' is reserved by Cloud SQL or PostgreSQL; choose another user");
        }

        Check(nameof(PostgresSecret), PostgresSecret, SecretRule(), "1–255 letters, digits, '-', '_'");
        Check(nameof(SlackWebhookSecret), SlackWebhookSecret, SecretRule(), "1–255 letters, digits, '-', '_'");
        Check(nameof(BaseImage), BaseImage, BaseImageRule(), "a .NET runtime id such as dotnet10");
        Check(nameof(InvokerServiceAccountId), InvokerServiceAccountId, ServiceAccountRule(), "6–30 characters: lowercase letters, digits, hyphens (shorten Prefix)");
        Check(nameof(BuilderServiceAccountId), BuilderServiceAccountId, ServiceAccountRule(), "6–30 characters: lowercase letters, digits, hyphens (shorten Prefix)");
        if (MaxInstances is < 1 or > MaxInstancesLimit)
        {
            throw new ArgumentException($"{nameof(MaxInstances)}: {MaxInstances} must be between 1 and {MaxInstancesLimit}");
        }

        if (BronzeRetentionDays is { } days && (days < MinBronzeRetentionDays || days > MaxBronzeRetentionDays))
        {
            throw new ArgumentException(
                $"{nameof(BronzeRetentionDays)}: {days} must be between {MinBronzeRetentionDays} and {MaxBronzeRetentionDays} " +
                $"(a redelivered event re-reads its bronze objects, and the pipeline's subscriptions keep a message up to {MinBronzeRetentionDays - 1} days)");
        }

        if (HeartbeatInterval <= TimeSpan.Zero || StaleAfter < 2 * HeartbeatInterval)
        {
            throw new ArgumentException($"{nameof(StaleAfter)} (FP_STALE_AFTER_SECONDS): {StaleAfter.TotalSeconds:0.###} s must be at least twice {nameof(HeartbeatInterval)} (FP_HEARTBEAT_SECONDS), {HeartbeatInterval.TotalSeconds:0.###} s, which must be positive");
        }

        if (MaxDeliveryAttempts is < 5 or > 100)
        {
            throw new ArgumentException($"{nameof(MaxDeliveryAttempts)}: {MaxDeliveryAttempts} must be between 5 and 100 (Pub/Sub's dead-letter policy)");
        }

        if (DeliverySchedule.TakeoverProblem(RetryPolicy, MaxDeliveryAttempts, StaleAfter, HeartbeatInterval) is { } takeover)
        {
            throw new ArgumentException($"{nameof(StaleAfter)}, {nameof(RetryPolicy)}, {nameof(MaxDeliveryAttempts)}: {takeover}");
        }

        if (!Path.IsPathFullyQualified(RepositoryRoot) || !Directory.Exists(RepositoryRoot))
        {
            throw new ArgumentException($"{nameof(RepositoryRoot)}: '{RepositoryRoot}' must be an existing absolute directory");
        }

        return this;
    }

    /// <summary>
    /// The single regions inside BigQuery's multi-regions that Google lists (us-central2 and europe-north2 are left out
    /// until it does): a dataset in the multi-region can query a bucket in one of them.
    /// europe-west2 (London) and europe-west6 (Zurich) are not in the EU.
    /// </summary>
    private static readonly Dictionary<string, string[]> MultiRegionMembers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["US"] = ["us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4"],
        ["EU"] = ["europe-central2", "europe-north1", "europe-southwest1", "europe-west1", "europe-west3", "europe-west4", "europe-west8", "europe-west9", "europe-west10", "europe-west12"],
    };

    /// <summary>
    /// Whether a dataset in <paramref name="datasetLocation"/> can query an external table over a bucket in
    /// <paramref name="bucketLocation"/>: the same location, or a single region inside the dataset's multi-region.
    /// Anything else (another region, a dual-region) is refused: the gold MERGE would fail on every delivery.
    /// </summary>
    public static bool CanQueryBucketsIn(string datasetLocation, string bucketLocation) =>
        string.Equals(datasetLocation, bucketLocation, StringComparison.OrdinalIgnoreCase)
        || (MultiRegionMembers.TryGetValue(datasetLocation, out var members) && members.Contains(bucketLocation, StringComparer.OrdinalIgnoreCase));

    internal static void CheckServiceAccountId(string setting, string accountId) =>
        Check(setting, accountId, ServiceAccountRule(), "6–30 characters: lowercase letters, digits, hyphens (shorten Prefix)");

    internal static void CheckMemory(string setting, string memory) =>
        Check(setting, memory, MemoryRule(), "a Cloud Run memory size such as 512Mi or 2Gi");

    internal static void CheckServiceName(string setting, string name) =>
        Check(setting, name, ServiceNameRule(), "1–49 characters: lowercase letters, digits, hyphens; starts with a letter");

    private static void Check(string setting, string? value, Regex rule, string expectation)
    {
        if (value is null || !rule.IsMatch(value))
        {
            throw new ArgumentException($"{setting}: '{value}' is invalid ({expectation})");
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    private static partial Regex ProjectIdRule();

    [GeneratedRegex("^[a-z]+-[a-z]+[0-9]{1,2}$")]
    private static partial Regex RegionRule();

    [GeneratedRegex("^([a-z]+-[a-z]+[0-9]{1,2}|[A-Za-z][A-Za-z0-9-]{1,30})$")]
    private static partial Regex LocationRule();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,11}$")]
    private static partial Regex PrefixRule();

    [GeneratedRegex("^[A-Za-z0-9_]{1,1024}$")]
    private static partial Regex DatasetRule();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,97}$")]
    private static partial Regex CloudSqlRule();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,255}$")]
    private static partial Regex SecretRule();

    [GeneratedRegex("^db-[a-z0-9-]{1,60}$")]
    private static partial Regex CloudSqlTierRule();

    [GeneratedRegex("^POSTGRES_[0-9]{2}$")]
    private static partial Regex PostgresVersionRule();

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex DatabaseNameRule();

    [GeneratedRegex("^dotnet[0-9]+$")]
    private static partial Regex BaseImageRule();

    [GeneratedRegex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    private static partial Regex ServiceAccountRule();

    [GeneratedRegex("^[1-9][0-9]{0,5}(Mi|Gi)$")]
    private static partial Regex MemoryRule();

    [GeneratedRegex("^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$")]
    private static partial Regex ServiceNameRule();
}
