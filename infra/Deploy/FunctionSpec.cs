using FinancialPipeline.PubSub;

namespace FinancialPipeline.Deploy;

public enum BucketAccess
{
    /// <summary>Read and list objects.</summary>
    Read,

    /// <summary>Read, list, create, overwrite and delete objects (deterministic rewrites overwrite).</summary>
    ReadWrite,

    /// <summary>
    /// Read through a BigQuery (non-BigLake) external table with the caller's credentials: besides reading and listing
    /// objects, BigQuery needs <c>storage.buckets.get</c> on the bucket itself, which objectViewer lacks.
    /// </summary>
    ExternalTable,
}

/// <summary>Where an IAM role is granted: always the narrowest resource the function touches.</summary>
public enum IamResource
{
    Project,
    Topic,
    Subscription,
    Bucket,
    Secret,
    Dataset,
    RunService,
    ServiceAccount,
}

public sealed record IamGrant(IamResource Kind, string Resource, string Role);

/// <summary>One deployable function (a Cloud Run service built from one project) and what it may touch.</summary>
public sealed record FunctionSpec
{
    public required string Key { get; init; }

    public required string ServiceName { get; init; }

    public required string ServiceAccountId { get; init; }

    /// <summary>GOOGLE_BUILDABLE: the project folder, relative to the repository root (case-sensitive).</summary>
    public required string SourceProject { get; init; }

    public IReadOnlyList<string> PublishesTo { get; init; } = [];

    public IReadOnlyDictionary<string, BucketAccess> Buckets { get; init; } = new Dictionary<string, BucketAccess>();

    public bool UsesControlDb { get; init; }

    public bool UsesBigQuery { get; init; }

    /// <summary>Environment variable → Secret Manager secret (latest version), besides the control DB's.</summary>
    public IReadOnlyDictionary<string, string> Secrets { get; init; } = new Dictionary<string, string>();

    /// <summary>Environment variables of this function, besides the ones every function gets.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Memory of one instance (Cloud Run <c>--memory</c>, e.g. 512Mi or 2Gi); /tmp is held in it.</summary>
    public string Memory { get; init; } = "512Mi";

    /// <summary>Requests one instance serves at once (Cloud Run <c>--concurrency</c>; 80 is Cloud Run's default).</summary>
    public int Concurrency { get; init; } = 80;

    /// <summary>Everything the function's runtime service account is granted; nothing else is.</summary>
    public IReadOnlyList<IamGrant> Grants(DeploymentSettings settings)
    {
        var grants = new List<IamGrant>();
        grants.AddRange(PublishesTo.Select(topic => new IamGrant(IamResource.Topic, topic, "roles/pubsub.publisher")));
        grants.AddRange(Buckets.SelectMany(b => BucketRoles(b.Value).Select(role => new IamGrant(IamResource.Bucket, b.Key, role))));
        if (UsesControlDb)
        {
            grants.Add(new IamGrant(IamResource.Project, settings.ProjectId, "roles/cloudsql.client"));
        }

        if (UsesBigQuery)
        {
            grants.Add(new IamGrant(IamResource.Project, settings.ProjectId, "roles/bigquery.jobUser"));
            grants.Add(new IamGrant(IamResource.Dataset, settings.BigQueryDataset, "roles/bigquery.dataEditor"));
        }

        grants.AddRange(AllSecrets(settings).Values.Select(secret => new IamGrant(IamResource.Secret, secret, "roles/secretmanager.secretAccessor")));
        return grants;
    }

    /// <summary>The predefined roles that give exactly <paramref name="access"/> on a bucket.</summary>
    public static IReadOnlyList<string> BucketRoles(BucketAccess access) => access switch
    {
        BucketAccess.Read => ["roles/storage.objectViewer"],
        BucketAccess.ReadWrite => ["roles/storage.objectUser"],
        // legacyBucketReader: storage.buckets.get (and objects.list); objectViewer: objects.get and objects.list.
        BucketAccess.ExternalTable => ["roles/storage.objectViewer", "roles/storage.legacyBucketReader"],
        _ => throw new ArgumentOutOfRangeException(nameof(access), access, null),
    };

    public IReadOnlyDictionary<string, string> AllSecrets(DeploymentSettings settings)
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (UsesControlDb)
        {
            all["FP_POSTGRES_CONNECTION"] = settings.PostgresSecret;
        }

        foreach (var (variable, secret) in Secrets)
        {
            all[variable] = secret;
        }

        return all;
    }
}

/// <summary>The pipeline's functions. Names derive from the prefix; topics come from the topology.</summary>
public static class FunctionCatalog
{
    public static string ServiceName(DeploymentSettings settings, string key) => settings.Prefix + key;

    /// <summary>
    /// The topology as deployed: push endpoints name the Cloud Run service that receives each subscription's
    /// messages (Eventarc creates the real push endpoint; the host part says which function it is).
    /// </summary>
    public static PipelineTopology Topology(DeploymentSettings settings) => PipelineTopology.Create(new TopologySettings
    {
        Prefix = settings.Prefix,
        ProjectId = settings.ProjectId,
        ExtractEndpoint = Endpoint(settings, "extract"),
        TransformEndpoint = Endpoint(settings, "transform"),
        AggregateEndpoint = Endpoint(settings, "aggregate"),
        AlertEndpoint = Endpoint(settings, "alert"),
        RetryPolicy = settings.RetryPolicy,
        MaxDeliveryAttempts = settings.MaxDeliveryAttempts,
        StaleAfter = settings.StaleAfter,
        HeartbeatInterval = settings.HeartbeatInterval,
    });

    public static Uri Endpoint(DeploymentSettings settings, string key) => new($"https://{ServiceName(settings, key)}.eventarc.invalid/");

    /// <summary>The service a push subscription of <see cref="Topology"/> delivers to.</summary>
    public static string ServiceOf(SubscriptionSpec subscription) =>
        new Uri(subscription.PushEndpoint ?? throw new ArgumentException($"{subscription.SubscriptionId} is a pull subscription", nameof(subscription)))
            .Host.Split('.')[0];

    public static IReadOnlyList<FunctionSpec> Standard(DeploymentSettings settings, PipelineTopology topology)
    {
        // Stages publish operational alerts (zombie takeovers) to the topology's alerts topic.
        string[] alerts = [topology.AlertsTopic];
        FunctionSpec Function(string key, string project) => new()
        {
            Key = key,
            ServiceName = ServiceName(settings, key),
            ServiceAccountId = settings.Prefix + key + "-fn",
            SourceProject = project,
        };

        return
        [
            Function("extract", "functions/Extract") with
            {
                PublishesTo = [topology.BronzeCompletedTopic, .. alerts],
                // Silver is read only after a stock split, to find the bars stored on the old basis (SplitRestatement).
                Buckets = new Dictionary<string, BucketAccess>
                {
                    [settings.BronzeBucket] = BucketAccess.ReadWrite,
                    [settings.SilverBucket] = BucketAccess.Read,
                },
                UsesControlDb = true,
                // A window holds its bars in memory: one of ExtractWindows.MaxWindowRows peaks at ≈390 MB RSS, two on one
                // instance at ≈615 MB, past 512 MiB (Cloud Run stops the instance). One run per instance, as Transform.
                Concurrency = 1,
                Environment = new Dictionary<string, string> { ["FP_STORAGE"] = "gcs" },
            },
            Function("transform", "functions/Transform") with
            {
                PublishesTo = [topology.SilverCompletedTopic, .. alerts],
                Buckets = new Dictionary<string, BucketAccess>
                {
                    [settings.BronzeBucket] = BucketAccess.Read,
                    [settings.SilverBucket] = BucketAccess.ReadWrite,
                },
                UsesControlDb = true,
                // Cloud Run's /tmp is memory: FP_WORK_DIR's bronze downloads and spill files (80 bytes a row past
                // 512 K buffered rows) share the instance's memory with the heap. The heap keeps the 384 MiB cap the
                // silver bench runs under (peak RSS ≈440 MB on 5 M rows); the rest of 2 GiB holds the downloads
                // and about 10 M spilled rows. One silver run per instance: two never share that budget.
                Memory = "2Gi",
                Concurrency = 1,
                Environment = new Dictionary<string, string>
                {
                    ["FP_STORAGE"] = "gcs",
                    ["DOTNET_GCHeapHardLimit"] = "0x18000000",
                },
            },
            Function("aggregate", "functions/Aggregate") with
            {
                PublishesTo = [topology.GoldCompletedTopic, .. alerts],
                // BigQuery reads the silver external table with the caller's credentials (bucket metadata included);
                // gold itself lists the touched partitions there before its MERGE (objectViewer's objects.list).
                Buckets = new Dictionary<string, BucketAccess> { [settings.SilverBucket] = BucketAccess.ExternalTable },
                UsesControlDb = true,
                UsesBigQuery = true,
                // Gold is BigQuery in the cloud (DuckDB is a single-process local file). The external table is bound to
                // the silver bucket at deployment: FP_BQ_SILVER_BUCKET names it, so gold refuses a job writing elsewhere.
                Environment = new Dictionary<string, string>
                {
                    ["FP_WAREHOUSE"] = "bigquery",
                    ["FP_BQ_PROJECT"] = settings.ProjectId,
                    ["FP_BQ_DATASET"] = settings.BigQueryDataset,
                    ["FP_BQ_LOCATION"] = settings.BigQueryLocation,
                    ["FP_BQ_SILVER_BUCKET"] = settings.SilverBucket,
                    ["FP_STORAGE"] = "gcs",
                },
            },
            Function("alert", "functions/Alert") with
            {
                UsesControlDb = true,
                Secrets = new Dictionary<string, string> { ["FP_SLACK_WEBHOOK_URL"] = settings.SlackWebhookSecret },
            },
        ];
    }
}
