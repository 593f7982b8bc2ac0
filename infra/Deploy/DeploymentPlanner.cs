using System.Globalization;
using System.Text.Json.Nodes;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Deploy;

/// <summary>
/// Turns the topology (the same definition the emulator setup uses) and the deployment settings into the ordered
/// gcloud/bq commands of a GCP deployment. Every step is idempotent, so applying the plan again converges.
/// </summary>
public static class DeploymentPlanner
{
    public const string PubSubEventType = "google.cloud.pubsub.topic.v1.messagePublished";
    public const string ProjectNumberVariable = "PROJECT_NUMBER";
    public const string ControlDbPasswordVariable = "FP_CONTROL_DB_PASSWORD";
    public const string LifecycleFileVariable = "FP_LIFECYCLE_FILE";

    private static readonly string[] RequiredApis =
    [
        "run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com", "eventarc.googleapis.com",
        "pubsub.googleapis.com", "secretmanager.googleapis.com", "sqladmin.googleapis.com", "bigquery.googleapis.com",
        "storage.googleapis.com", "iam.googleapis.com",
    ];

    /// <summary>The standard deployment: topology and functions from the catalog, DDL read from the repository now.</summary>
    public static DeploymentPlan Build(DeploymentSettings settings)
    {
        settings.Validate();
        var topology = FunctionCatalog.Topology(settings);
        var functions = FunctionCatalog.Standard(settings, topology);
        var (ddl, skipped) = BigQueryDdl.Load(Path.Combine(settings.RepositoryRoot, settings.BigQuerySqlDirectory), BigQueryDdl.Placeholders(settings));
        return Build(settings, topology, functions, ddl, skipped);
    }

    public static DeploymentPlan Build(
        DeploymentSettings settings,
        PipelineTopology topology,
        IReadOnlyList<FunctionSpec> functions,
        IReadOnlyList<SqlScript> ddl,
        IReadOnlyList<string> skippedSql)
    {
        settings.Validate();
        CheckTakeover(settings, topology);
        var triggers = MapTriggers(topology, functions);
        CheckFunctions(settings, functions);
        var plan = new Planner(settings);
        plan.Foundations();
        plan.ServiceAccounts(functions);
        plan.Buckets();
        plan.ControlDatabase(functions.Count);
        plan.Messaging(topology);
        plan.Secrets(functions);
        plan.BigQuery(ddl, skippedSql);
        foreach (var function in functions)
        {
            plan.Function(function, triggers.Where(t => t.Function == function).Select(t => t.Subscription).ToList());
        }

        plan.InvokerTokens();
        foreach (var (subscription, function) in triggers)
        {
            plan.Trigger(subscription, function);
        }

        var steps = plan.Steps;
        if (steps.Any(s => s.Command.Any(a => a.StartsWith("--allow-unauthenticated", StringComparison.Ordinal))))
        {
            throw new InvalidOperationException("a step would allow unauthenticated calls");
        }

        return new DeploymentPlan($"FinancialPipeline deployment: project {settings.ProjectId}, region {settings.Region}, prefix {settings.Prefix}", steps, NextSteps(settings));
    }

    /// <summary>
    /// The bronze bucket's lifecycle configuration (Cloud Storage's JSON): a single rule deleting objects whose names start
    /// with <see cref="ObjectLayout.BronzeRootPrefix"/> once they are <paramref name="days"/> days old.
    /// </summary>
    public static string BronzeLifecycleJson(int days) => new JsonObject
    {
        ["rule"] = new JsonArray(new JsonObject
        {
            ["action"] = new JsonObject { ["type"] = "Delete" },
            ["condition"] = new JsonObject { ["age"] = days, ["matchesPrefix"] = new JsonArray(ObjectLayout.BronzeRootPrefix) },
        }),
    }.ToJsonString();

    /// <summary>
    /// The deployment writes no job row, and Extract rejects every start message until one exists: say how to write it
    /// (README, Deployment, "The production job"), with this deployment's names.
    /// </summary>
    private static IReadOnlyList<string> NextSteps(DeploymentSettings settings) =>
    [
        "next: create the job that the hourly start message names; until it exists Extract rejects every start message.",
        $"  cloud-sql-proxy {settings.ProjectId}:{settings.Region}:{settings.CloudSqlInstance} --port 5432 &",
        $"  export FP_POSTGRES_CONNECTION=\"$(gcloud secrets versions access latest --secret={settings.PostgresSecret} --project={settings.ProjectId} | sed 's|^Host=[^;]*|Host=127.0.0.1;Port=5432|')\"",
        $"  fp jobs set --name financial_extract --provider yahoo --tickers AAPL,MSFT --bucket {settings.BronzeBucket} --silver-bucket {settings.SilverBucket}",
        "  (README.md, Deployment, \"The production job\")",
    ];

    /// <summary>
    /// A stage subscription (one with a dead-letter policy) whose deliveries do not outlast the zombie threshold the
    /// functions are deployed with would dead-letter a crashed worker's message before any delivery could take its row
    /// over: refused, naming the subscription and the settings.
    /// </summary>
    private static void CheckTakeover(DeploymentSettings settings, PipelineTopology topology)
    {
        foreach (var subscription in topology.Subscriptions.Where(s => s.DeadLetter is not null))
        {
            var retry = subscription.RetryPolicy ?? new RetryPolicySpec(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(600)); // Pub/Sub's default
            if (DeliverySchedule.TakeoverProblem(retry, subscription.DeadLetter!.MaxDeliveryAttempts, settings.StaleAfter, settings.HeartbeatInterval) is { } problem)
            {
                throw new InvalidOperationException($"subscription {subscription.SubscriptionId}: {problem}");
            }
        }
    }

    /// <summary>Every push subscription of the topology becomes an Eventarc trigger of exactly one function.</summary>
    private static List<(SubscriptionSpec Subscription, FunctionSpec Function)> MapTriggers(PipelineTopology topology, IReadOnlyList<FunctionSpec> functions)
    {
        var byService = functions.ToDictionary(f => f.ServiceName, StringComparer.Ordinal);
        var triggers = new List<(SubscriptionSpec, FunctionSpec)>();
        foreach (var subscription in topology.Subscriptions.Where(s => s.PushEndpoint is not null))
        {
            var service = FunctionCatalog.ServiceOf(subscription);
            if (!byService.TryGetValue(service, out var function))
            {
                throw new InvalidOperationException($"subscription {subscription.SubscriptionId} pushes to '{service}', which no function deploys");
            }

            if (!topology.Topics.Contains(subscription.TopicId))
            {
                throw new InvalidOperationException($"subscription {subscription.SubscriptionId}: topic {subscription.TopicId} is not in the topology");
            }

            triggers.Add((subscription, function));
        }

        var idle = functions.Where(f => triggers.All(t => t.Item2 != f)).Select(f => f.ServiceName).ToList();
        if (idle.Count > 0)
        {
            throw new InvalidOperationException($"no subscription of the topology triggers {string.Join(", ", idle)}");
        }

        return triggers;
    }

    private static void CheckFunctions(DeploymentSettings settings, IReadOnlyList<FunctionSpec> functions)
    {
        foreach (var function in functions)
        {
            DeploymentSettings.CheckServiceName($"functions[{function.Key}].ServiceName", function.ServiceName);
            DeploymentSettings.CheckServiceAccountId($"functions[{function.Key}].ServiceAccountId", function.ServiceAccountId);
            DeploymentSettings.CheckMemory($"functions[{function.Key}].Memory", function.Memory);
            if (function.Concurrency is < 1 or > 1000)
            {
                throw new InvalidOperationException($"functions[{function.Key}].Concurrency: {function.Concurrency} must be between 1 and 1000");
            }

            var folder = Path.Combine(settings.RepositoryRoot, function.SourceProject);
            if (!Directory.Exists(folder) || Directory.GetFiles(folder, "*.csproj").Length != 1)
            {
                throw new InvalidOperationException(
                    $"functions[{function.Key}].SourceProject: {function.SourceProject} must be a folder of {settings.RepositoryRoot} with one .csproj (GOOGLE_BUILDABLE)");
            }
        }
    }

    private sealed class Planner(DeploymentSettings settings)
    {
        private readonly string project = "--project=" + settings.ProjectId;
        private readonly string pubSubAgent = $"serviceAccount:service-{ShellQuoting.Variable(ProjectNumberVariable)}@gcp-sa-pubsub.iam.gserviceaccount.com";

        public List<DeployStep> Steps { get; } = [];

        private string Invoker => settings.ServiceAccountEmail(settings.InvokerServiceAccountId);

        public void Foundations()
        {
            Add(DeployStep.Run("APIs the deployment uses.", ["gcloud", "services", "enable", .. RequiredApis, project]));
            Add(DeployStep.Capture(
                "Project number: names the Pub/Sub service agent, which dead-letters messages and signs push tokens.",
                ProjectNumberVariable,
                "gcloud", "projects", "describe", settings.ProjectId, "--format=value(projectNumber)"));
            // Service agents are created as a service is first used, and a role cannot be granted to one that does not
            // exist yet: on a new project the grants to the Pub/Sub agent below would fail. Asking for it is idempotent;
            // one created on request is not given its usual role, so it is granted here (a no-op when it has it).
            Add(DeployStep.Run(
                "The Pub/Sub service agent exists before the plan grants it roles (on a new project it may not yet).",
                "gcloud", "beta", "services", "identity", "create", "--service=pubsub.googleapis.com", project));
            Add(Grant(
                "The Pub/Sub service agent has its usual role (not given to an agent created on request).",
                new IamGrant(IamResource.Project, settings.ProjectId, "roles/pubsub.serviceAgent"),
                pubSubAgent));
        }

        public void ServiceAccounts(IReadOnlyList<FunctionSpec> functions)
        {
            ServiceAccount(settings.InvokerServiceAccountId, "FinancialPipeline Eventarc invoker (run.invoker only)");
            // Source deploys build with the project's default compute account unless told otherwise, and organisations
            // that stop automatic grants to default accounts leave it without the role: every build would fail.
            ServiceAccount(settings.BuilderServiceAccountId, "FinancialPipeline source builds (run.builder only)");
            Add(Grant(
                "The build account may build and push the functions' images (Cloud Run Builder).",
                new IamGrant(IamResource.Project, settings.ProjectId, "roles/run.builder"),
                "serviceAccount:" + settings.ServiceAccountEmail(settings.BuilderServiceAccountId)));
            foreach (var function in functions)
            {
                ServiceAccount(function.ServiceAccountId, $"FinancialPipeline {function.Key} function runtime");
            }
        }

        public void Buckets()
        {
            Bucket(settings.BronzeBucket);
            if (settings.BronzeRetentionDays is { } days)
            {
                BronzeLifecycle(days);
            }

            // Silver gets no lifecycle rule: BigQuery reads its tables and its quarantine objects in place.
            Bucket(settings.SilverBucket);
        }

        private void Bucket(string bucket)
        {
            var url = "gs://" + bucket;
            Add(DeployStep.CreateIfMissing(
                $"Bucket {bucket}: uniform bucket-level access, public access prevented.",
                ["gcloud", "storage", "buckets", "describe", url, project],
                "gcloud", "storage", "buckets", "create", url, project, "--location=" + settings.EffectiveBucketLocation,
                "--uniform-bucket-level-access", "--public-access-prevention"));
            Add(DeployStep.Run(
                $"Enforce the same on {bucket} if it already existed.",
                "gcloud", "storage", "buckets", "update", url, project, "--uniform-bucket-level-access", "--public-access-prevention"));
        }

        /// <summary>
        /// One rule on the bronze bucket: delete what Extract wrote (names starting <see cref="ObjectLayout.BronzeRootPrefix"/>)
        /// once it is <paramref name="days"/> days old. The prefix keeps it off silver and quarantine objects in a bucket
        /// a job also uses as its silver bucket. Setting the whole configuration again on every apply is idempotent.
        /// </summary>
        private void BronzeLifecycle(int days)
        {
            var bucket = settings.BronzeBucket;
            // gcloud storage resolves --lifecycle-file with os.path.realpath before opening it, which turns /dev/stdin
            // (a pipe, or bash's deleted here-document file) into a path that does not exist, and it has no '-' for
            // standard input: the rules go into a real file, as Google's lifecycle guide does it.
            Add(DeployStep.RunWithInputFile(
                $"Bucket {bucket}: delete bronze objects ({ObjectLayout.BronzeRootPrefix}...) {days} days after Extract wrote them.\n" +
                "This replaces the bucket's whole lifecycle configuration: any other rule on it is removed.",
                BronzeLifecycleJson(days),
                LifecycleFileVariable,
                "gcloud", "storage", "buckets", "update", "gs://" + bucket, project, "--lifecycle-file=" + ShellQuoting.Variable(LifecycleFileVariable)));
        }

        public void ControlDatabase(int services)
        {
            var instance = settings.CloudSqlInstance;
            var maxConnections = settings.ControlDbMaxConnections(services);
            Add(DeployStep.CreateIfMissing(
                $"Cloud SQL instance {instance} for the control DB: {settings.CloudSqlDatabaseVersion}, daily backups, encrypted connections through the Cloud SQL connector only (Cloud Run's --add-cloudsql-instances), deletion protection, max_connections={maxConnections} ({services} services x {settings.MaxInstances} instances x a pool of {DeploymentSettings.ControlDbPoolSize}, and {DeploymentSettings.ControlDbSpareConnections} for operators and Cloud SQL; an existing instance keeps its flags). Creating one takes several minutes.",
                ["gcloud", "sql", "instances", "describe", instance, project],
                "gcloud", "sql", "instances", "create", instance, project, "--region=" + settings.Region,
                "--database-version=" + settings.CloudSqlDatabaseVersion, "--edition=enterprise", "--tier=" + settings.CloudSqlTier,
                "--backup-start-time=03:00", "--storage-auto-increase", "--ssl-mode=ENCRYPTED_ONLY", "--connector-enforcement=REQUIRED",
                "--deletion-protection", "--database-flags=max_connections=" + maxConnections.ToString(CultureInfo.InvariantCulture)));
            Add(DeployStep.CreateIfMissing(
                $"Database {settings.ControlDatabase} on {instance}; its tables come from sql/postgres, applied by the functions on start.",
                ["gcloud", "sql", "databases", "describe", settings.ControlDatabase, "--instance=" + instance, project],
                "gcloud", "sql", "databases", "create", settings.ControlDatabase, "--instance=" + instance, project));
        }

        public void Messaging(PipelineTopology topology)
        {
            foreach (var topic in topology.Topics)
            {
                Add(DeployStep.CreateIfMissing(
                    $"Topic {topic}.",
                    ["gcloud", "pubsub", "topics", "describe", topic, project],
                    "gcloud", "pubsub", "topics", "create", topic, project));
            }

            foreach (var subscription in topology.Subscriptions.Where(s => s.PushEndpoint is null))
            {
                Add(DeployStep.CreateIfMissing(
                    $"Pull subscription {subscription.SubscriptionId} on {subscription.TopicId}.",
                    ["gcloud", "pubsub", "subscriptions", "describe", subscription.SubscriptionId, project],
                    "gcloud", "pubsub", "subscriptions", "create", subscription.SubscriptionId, project, "--topic=" + subscription.TopicId));
                Add(DeployStep.Run(
                    $"{subscription.SubscriptionId}: {PolicyDescription(subscription)} (an idle hold must not vanish).",
                    ["gcloud", "pubsub", "subscriptions", "update", subscription.SubscriptionId, project, .. PolicyFlags(subscription)]));
                DeadLetterSource(subscription, subscription.SubscriptionId);
            }

            foreach (var deadLetterTopic in topology.Subscriptions.Select(s => s.DeadLetter?.DeadLetterTopicId).OfType<string>().Distinct(StringComparer.Ordinal))
            {
                Add(Grant(
                    $"The Pub/Sub service agent forwards undeliverable messages to {deadLetterTopic}.",
                    new IamGrant(IamResource.Topic, deadLetterTopic, "roles/pubsub.publisher"),
                    pubSubAgent));
            }
        }

        public void Secrets(IReadOnlyList<FunctionSpec> functions)
        {
            foreach (var secret in functions.SelectMany(f => f.AllSecrets(settings).Values).Distinct(StringComparer.Ordinal))
            {
                Add(DeployStep.CreateIfMissing(
                    $"Secret {secret} (its value is never part of the plan).",
                    ["gcloud", "secrets", "describe", secret, project],
                    "gcloud", "secrets", "create", secret, project, "--replication-policy=automatic"));
                if (secret == settings.PostgresSecret)
                {
                    ControlDbCredentials();
                }

                Add(DeployStep.Require(
                    $"{secret} needs a value before a function can start.",
                    $"secret {secret} has no version yet; add one with: gcloud secrets versions add {secret} --project={settings.ProjectId} --data-file=FILE (- reads standard input)",
                    "gcloud", "secrets", "versions", "describe", "latest", "--secret=" + secret, project));
            }
        }

        /// <summary>
        /// The functions' database user and the connection string holding its password, made together and only
        /// while the secret has no version: a password generated at apply time, never in the plan, never printed.
        /// An existing user of that name gets the new password (e.g. a run that stopped before storing it).
        /// </summary>
        private void ControlDbCredentials()
        {
            var instance = "--instance=" + settings.CloudSqlInstance;
            var password = "--password=" + ShellQuoting.Variable(ControlDbPasswordVariable);
            // gcloud writes every command's arguments to its log file (kept 30 days by default): not these.
            string[] unlogged = ["env", "CLOUDSDK_CORE_DISABLE_FILE_LOGGING=true"];
            Add(DeployStep.GenerateSecretIfMissing(
                $"Database user {settings.ControlDbUser} and the connection string in {settings.PostgresSecret}, if that secret has no version yet.\n" +
                $"The password is generated now and goes only to Cloud SQL and the secret (a new version replaces it: gcloud sql users set-password, then gcloud secrets versions add).",
                ["gcloud", "secrets", "versions", "describe", "latest", "--secret=" + settings.PostgresSecret, project],
                ControlDbPasswordVariable,
                new ScriptCommand([.. unlogged, "gcloud", "sql", "users", "create", settings.ControlDbUser, instance, project, password])
                {
                    OrElse = [.. unlogged, "gcloud", "sql", "users", "set-password", settings.ControlDbUser, instance, project, password],
                },
                new ScriptCommand(["gcloud", "secrets", "versions", "add", settings.PostgresSecret, project, "--data-file=-"])
                {
                    Input = settings.ControlDbConnectionString(ShellQuoting.Variable(ControlDbPasswordVariable)),
                }));
        }

        public void BigQuery(IReadOnlyList<SqlScript> ddl, IReadOnlyList<string> skippedSql)
        {
            var dataset = $"{settings.ProjectId}:{settings.BigQueryDataset}";
            var bq = new[] { "bq", "--project_id=" + settings.ProjectId, "--location=" + settings.BigQueryLocation };
            var skipped = skippedSql.Count == 0 ? "" : $"\nNot run here (queries the functions run with parameters): {string.Join(", ", skippedSql)}.";
            Add(DeployStep.CreateIfMissing(
                $"BigQuery dataset {settings.BigQueryDataset} in {settings.BigQueryLocation}." + skipped,
                [.. bq, "show", "--dataset", dataset],
                [.. bq, "mk", "--dataset", "--description=FinancialPipeline silver (external) and gold tables", dataset]));
            foreach (var script in ddl)
            {
                Add(DeployStep.RunWithInput($"BigQuery DDL sql/bigquery/{script.FileName} (placeholders substituted).", script.Sql, [.. bq, "query", "--use_legacy_sql=false"]));
            }
        }

        public void Function(FunctionSpec function, IReadOnlyList<SubscriptionSpec> subscriptions)
        {
            var account = settings.ServiceAccountEmail(function.ServiceAccountId);
            foreach (var grant in function.Grants(settings))
            {
                Add(Grant($"{function.ServiceName} runtime: {grant.Role} on {grant.Kind} {grant.Resource}.", grant, "serviceAccount:" + account));
            }

            var secrets = function.AllSecrets(settings);
            var environment = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["DOTNET_RUNNING_IN_CONTAINER"] = "true",
                ["FP_PROJECT_ID"] = settings.ProjectId,
                ["FP_TOPIC_PREFIX"] = settings.Prefix,
            };
            if (function.UsesControlDb)
            {
                // The threshold the topology's redeliveries were checked against (CheckTakeover), not the hosts' default.
                environment["FP_STALE_AFTER_SECONDS"] = settings.StaleAfter.TotalSeconds.ToString(CultureInfo.InvariantCulture);
                environment["FP_HEARTBEAT_SECONDS"] = settings.HeartbeatInterval.TotalSeconds.ToString(CultureInfo.InvariantCulture);
            }

            foreach (var (variable, value) in function.Environment)
            {
                // gcloud splits --set-env-vars on commas.
                environment[variable] = value.Contains(',', StringComparison.Ordinal)
                    ? throw new InvalidOperationException($"functions[{function.Key}].Environment[{variable}]: '{value}' must not contain a comma")
                    : value;
            }

            var timeout = subscriptions.Max(s => s.AckDeadlineSeconds);
            List<string> deploy =
            [
                "gcloud", "run", "deploy", function.ServiceName, project, "--region=" + settings.Region, "--quiet",
                "--source=" + settings.RepositoryRoot, "--base-image=" + settings.BaseImage,
                "--set-build-env-vars=GOOGLE_BUILDABLE=" + function.SourceProject,
                $"--build-service-account=projects/{settings.ProjectId}/serviceAccounts/{settings.ServiceAccountEmail(settings.BuilderServiceAccountId)}",
                "--service-account=" + account, "--no-allow-unauthenticated", "--ingress=internal",
                // The push request lasts at most the ack deadline; the service must not cut it shorter.
                "--timeout=" + timeout.ToString(CultureInfo.InvariantCulture) + "s",
                "--cpu-boost", "--max-instances=" + settings.MaxInstances.ToString(CultureInfo.InvariantCulture),
                "--memory=" + function.Memory, "--concurrency=" + function.Concurrency.ToString(CultureInfo.InvariantCulture),
                "--set-env-vars=" + string.Join(',', environment.Select(e => $"{e.Key}={e.Value}")),
            ];
            if (secrets.Count > 0)
            {
                deploy.Add("--set-secrets=" + string.Join(',', secrets.Select(s => $"{s.Key}={s.Value}:latest")));
            }

            if (function.UsesControlDb)
            {
                deploy.Add("--add-cloudsql-instances=" + settings.CloudSqlConnectionName);
            }

            Add(new DeployStep(
                $"Function {function.ServiceName}: Cloud Run, built from {function.SourceProject} on {settings.BaseImage}; private (IAM-checked) and internal ingress.",
                StepKind.Run,
                deploy));
            Add(Grant(
                $"Only the Eventarc invoker may call {function.ServiceName}.",
                new IamGrant(IamResource.RunService, function.ServiceName, "roles/run.invoker"),
                "serviceAccount:" + Invoker));
        }

        public void InvokerTokens() => Add(Grant(
            "The Pub/Sub service agent signs the invoker's OIDC tokens on push (needed in projects created before April 2021).",
            new IamGrant(IamResource.ServiceAccount, Invoker, "roles/iam.serviceAccountTokenCreator"),
            pubSubAgent));

        public void Trigger(SubscriptionSpec subscription, FunctionSpec function)
        {
            var name = StageTopics.TriggerOfSubscription(subscription.SubscriptionId);
            var location = "--location=" + settings.Region;
            Add(DeployStep.CreateIfMissing(
                $"Eventarc trigger {name}: {subscription.TopicId} → {function.ServiceName}, as the invoker service account.",
                ["gcloud", "eventarc", "triggers", "describe", name, location, project],
                "gcloud", "eventarc", "triggers", "create", name, location, project,
                "--destination-run-service=" + function.ServiceName, "--destination-run-region=" + settings.Region,
                "--event-filters=type=" + PubSubEventType,
                $"--transport-topic=projects/{settings.ProjectId}/topics/{subscription.TopicId}",
                "--service-account=" + Invoker));
            var variable = "sub_" + subscription.SubscriptionId.Replace('-', '_');
            Add(DeployStep.Capture(
                $"The subscription Eventarc created for {name}.",
                variable,
                "gcloud", "eventarc", "triggers", "describe", name, location, project, "--format=value(transport.pubsub.subscription)"));
            Add(DeployStep.Run(
                $"{subscription.SubscriptionId}: {PolicyDescription(subscription)}. Eventarc sets no ack deadline, retry or dead-letter policy and keeps messages only 24 h.",
                ["gcloud", "pubsub", "subscriptions", "update", ShellQuoting.Variable(variable), project, .. PolicyFlags(subscription)]));
            DeadLetterSource(subscription, ShellQuoting.Variable(variable));
        }

        private void DeadLetterSource(SubscriptionSpec subscription, string subscriptionName)
        {
            if (subscription.DeadLetter is not null)
            {
                Add(Grant(
                    $"The Pub/Sub service agent acknowledges what {subscription.SubscriptionId} dead-letters.",
                    new IamGrant(IamResource.Subscription, subscriptionName, "roles/pubsub.subscriber"),
                    pubSubAgent));
            }
        }

        private List<string> PolicyFlags(SubscriptionSpec subscription)
        {
            var flags = new List<string> { "--ack-deadline=" + subscription.AckDeadlineSeconds.ToString(CultureInfo.InvariantCulture) };
            if (subscription.RetryPolicy is { } retry)
            {
                flags.Add("--min-retry-delay=" + Duration(retry.MinimumBackoff));
                flags.Add("--max-retry-delay=" + Duration(retry.MaximumBackoff));
            }

            if (subscription.DeadLetter is { } deadLetter)
            {
                flags.Add($"--dead-letter-topic=projects/{settings.ProjectId}/topics/{deadLetter.DeadLetterTopicId}");
                flags.Add("--max-delivery-attempts=" + deadLetter.MaxDeliveryAttempts.ToString(CultureInfo.InvariantCulture));
            }

            if (subscription.MessageRetention is { } retention)
            {
                flags.Add("--message-retention-duration=" + Duration(retention));
            }

            if (subscription.NeverExpires)
            {
                flags.Add("--expiration-period=never");
            }

            return flags;
        }

        private static string PolicyDescription(SubscriptionSpec subscription) => string.Join(", ", new[]
        {
            "ack deadline",
            subscription.RetryPolicy is null ? null : "retry policy",
            subscription.DeadLetter is null ? null : "dead-letter policy",
            subscription.MessageRetention is { } retention ? "messages kept " + Duration(retention) : null,
            subscription.NeverExpires ? "never expiring" : null,
        }.OfType<string>());

        /// <summary>A gcloud duration: whole days as <c>7d</c>, anything else in seconds.</summary>
        private static string Duration(TimeSpan span) => span.Ticks % TimeSpan.TicksPerDay == 0 && span > TimeSpan.Zero
            ? ((long)span.TotalDays).ToString(CultureInfo.InvariantCulture) + "d"
            : ((long)Math.Round(span.TotalSeconds)).ToString(CultureInfo.InvariantCulture) + "s";

        private void ServiceAccount(string accountId, string displayName) => Add(DeployStep.CreateIfMissing(
            $"Service account {accountId}.",
            ["gcloud", "iam", "service-accounts", "describe", settings.ServiceAccountEmail(accountId), project],
            "gcloud", "iam", "service-accounts", "create", accountId, project, "--display-name=" + displayName));

        private DeployStep Grant(string comment, IamGrant grant, string member)
        {
            var binding = new[] { "--member=" + member, "--role=" + grant.Role };
            string[] command = grant.Kind switch
            {
                // --condition=None: no prompt when the project policy already has conditional bindings.
                IamResource.Project => ["gcloud", "projects", "add-iam-policy-binding", grant.Resource, .. binding, "--condition=None"],
                IamResource.Topic => ["gcloud", "pubsub", "topics", "add-iam-policy-binding", grant.Resource, project, .. binding],
                IamResource.Subscription => ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding", grant.Resource, project, .. binding],
                IamResource.Bucket => ["gcloud", "storage", "buckets", "add-iam-policy-binding", "gs://" + grant.Resource, project, .. binding],
                IamResource.Secret => ["gcloud", "secrets", "add-iam-policy-binding", grant.Resource, project, .. binding],
                IamResource.Dataset => ["bq", "--project_id=" + settings.ProjectId, "add-iam-policy-binding", "--dataset", .. binding, $"{settings.ProjectId}:{grant.Resource}"],
                IamResource.RunService => ["gcloud", "run", "services", "add-iam-policy-binding", grant.Resource, project, "--region=" + settings.Region, .. binding],
                IamResource.ServiceAccount => ["gcloud", "iam", "service-accounts", "add-iam-policy-binding", grant.Resource, project, .. binding],
                _ => throw new InvalidOperationException($"unknown IAM resource kind {grant.Kind}"),
            };
            return DeployStep.Run(comment, command);
        }

        private void Add(DeployStep step) => Steps.Add(step);
    }
}
