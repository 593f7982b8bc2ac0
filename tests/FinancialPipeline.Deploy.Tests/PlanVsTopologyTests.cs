using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Work;
using Microsoft.Extensions.Configuration;

namespace FinancialPipeline.Deploy.Tests;

public sealed class PlanVsTopologyTests(RepositoryFixture repo) : IClassFixture<RepositoryFixture>
{
    private const string Project = RepositoryFixture.ProjectId;
    private const string PubSubAgent = "serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com";
    private const string Invoker = "serviceAccount:fp-invoker@" + Project + ".iam.gserviceaccount.com";

    private DeploymentSettings Settings => repo.Settings;

    private PipelineTopology Topology => FunctionCatalog.Topology(Settings);

    private DeploymentPlan Plan => DeploymentPlanner.Build(Settings);

    [Fact]
    public void EveryTopicOfTheTopologyIsCreated()
    {
        var created = Plan.Commands("gcloud", "pubsub", "topics", "create").Select(s => s.Command[4]).ToList();
        Assert.Equal(Topology.Topics, created);
        Assert.All(Plan.Commands("gcloud", "pubsub", "topics", "create"), s => Assert.Equal(StepKind.CreateIfMissing, s.Kind));
    }

    [Fact]
    public void EveryPullSubscriptionIsCreatedOnItsTopicWithItsPolicyAndNeverExpires()
    {
        var pulls = Topology.Subscriptions.Where(s => s.PushEndpoint is null).ToList();
        Assert.NotEmpty(pulls);
        foreach (var subscription in pulls)
        {
            var create = Assert.Single(Plan.Commands("gcloud", "pubsub", "subscriptions", "create", subscription.SubscriptionId));
            Assert.Equal(subscription.TopicId, create.Flag("--topic"));
            var update = Assert.Single(Plan.Commands("gcloud", "pubsub", "subscriptions", "update", subscription.SubscriptionId));
            Assert.Equal(subscription.AckDeadlineSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), update.Flag("--ack-deadline"));
            Assert.Equal((TimeSpan.FromDays(7), true), (subscription.MessageRetention, subscription.NeverExpires));
            Assert.Equal("never", update.Flag("--expiration-period"));
            Assert.Equal("7d", update.Flag("--message-retention-duration"));
        }
    }

    [Fact]
    public void EveryPushSubscriptionKeepsMessagesSevenDaysNotEventarcs24HoursAndNeverExpires()
    {
        var pushes = Topology.Subscriptions.Where(s => s.PushEndpoint is not null).ToList();
        Assert.Equal(["fp-extract", "fp-transform", "fp-aggregate", "fp-alert", "fp-alert-events"], pushes.Select(s => s.SubscriptionId));
        foreach (var subscription in pushes)
        {
            // the topology's cap; the Alert subscriptions have no dead-letter policy, so this is how long Slack may be down.
            Assert.Equal((TimeSpan.FromDays(7), true), (subscription.MessageRetention, subscription.NeverExpires));
            var patch = Assert.Single(Plan.Commands("gcloud", "pubsub", "subscriptions", "update", ShellQuoting.Variable("sub_" + subscription.SubscriptionId.Replace('-', '_'))));
            Assert.Equal("7d", patch.Flag("--message-retention-duration"));
            Assert.Equal("never", patch.Flag("--expiration-period"));
        }
    }

    [Fact]
    public void AStageMessageIsDeadLetteredLongBeforeItsRetentionRunsOut()
    {
        foreach (var subscription in Topology.Subscriptions.Where(s => s.DeadLetter is not null))
        {
            // Every attempt may take the ack deadline (the push timeout), then the longest backoff before the next.
            var attempt = TimeSpan.FromSeconds(subscription.AckDeadlineSeconds) + subscription.RetryPolicy!.MaximumBackoff;
            var longest = subscription.DeadLetter!.MaxDeliveryAttempts * attempt;
            Assert.Equal(TimeSpan.FromMinutes(100), longest);
            Assert.True(subscription.MessageRetention >= longest, $"{subscription.SubscriptionId}: retention {subscription.MessageRetention} < {longest}");
        }

        var tooShort = Assert.Throws<ArgumentOutOfRangeException>(() => PipelineTopology.Create(TopologySettings(TimeSpan.FromMinutes(99))));
        Assert.Contains("dropped before they are dead-lettered", tooShort.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => PipelineTopology.Create(TopologySettings(TimeSpan.FromDays(8))));
        Assert.Equal(TimeSpan.FromMinutes(100), PipelineTopology.Create(TopologySettings(TimeSpan.FromMinutes(100))).Subscriptions[0].MessageRetention);
    }

    [Fact]
    public void TheAlertsTopicHasItsOwnHoldSoATakeoverAlertOutlivesAnAlertFunctionOutage()
    {
        Assert.Equal("fp-alerts-hold", Topology.AlertsHoldSubscription);
        var hold = Assert.Single(Topology.Subscriptions, s => s.SubscriptionId == Topology.AlertsHoldSubscription);
        Assert.Equal((Topology.AlertsTopic, (string?)null), (hold.TopicId, hold.PushEndpoint));
        Assert.Equal("fp-alerts", Assert.Single(Plan.Commands("gcloud", "pubsub", "subscriptions", "create", "fp-alerts-hold")).Flag("--topic"));
        var update = Assert.Single(Plan.Commands("gcloud", "pubsub", "subscriptions", "update", "fp-alerts-hold"));
        Assert.Equal(("7d", "never"), (update.Flag("--message-retention-duration"), update.Flag("--expiration-period")));
    }

    [Fact]
    public void TheSubscriptionEventarcCreatesForAStagesTrigger_IsRecognisedAsThatStages()
    {
        // A dead letter's source subscription in the cloud is eventarc-REGION-TRIGGER-sub-NNN; the Alert function
        // reads the failed stage from it when the body names none.
        var topics = new StageTopics(Settings.Prefix);
        var triggers = Plan.Commands("gcloud", "eventarc", "triggers", "create").Select(t => t.Command[4]).ToList();
        foreach (var stage in new[] { Core.Contracts.Stage.Bronze, Core.Contracts.Stage.Silver, Core.Contracts.Stage.Gold })
        {
            var trigger = Assert.Single(triggers, t => t == StageTopics.TriggerOfSubscription(topics.SubscriptionOf(stage)));
            Assert.Equal(stage, topics.StageOfSubscription($"eventarc-{Settings.Region}-{trigger}-sub-4021"));
        }
    }

    [Fact]
    public void EveryPushSubscriptionBecomesAnEventarcTriggerOnItsTopicWithThePatchedSubscription()
    {
        var pushes = Topology.Subscriptions.Where(s => s.PushEndpoint is not null).ToList();
        Assert.True(pushes.Count >= 4, $"{pushes.Count} push subscriptions");
        var triggers = Plan.Commands("gcloud", "eventarc", "triggers", "create");
        Assert.Equal(pushes.Select(s => s.SubscriptionId + "-trigger"), triggers.Select(t => t.Command[4]));
        foreach (var subscription in pushes)
        {
            var name = subscription.SubscriptionId + "-trigger";
            var trigger = Assert.Single(triggers, t => t.Command[4] == name);
            Assert.Equal($"projects/{Project}/topics/{subscription.TopicId}", trigger.Flag("--transport-topic"));
            Assert.Equal("type=google.cloud.pubsub.topic.v1.messagePublished", trigger.Flag("--event-filters"));
            Assert.Equal(FunctionCatalog.ServiceOf(subscription), trigger.Flag("--destination-run-service"));
            Assert.Equal("us-east4", trigger.Flag("--destination-run-region"));
            Assert.Equal(Invoker["serviceAccount:".Length..], trigger.Flag("--service-account"));

            var variable = "sub_" + subscription.SubscriptionId.Replace('-', '_');
            var capture = Assert.Single(Plan.Steps, s => s.Kind == StepKind.Capture && s.Variable == variable);
            Assert.Equal(["gcloud", "eventarc", "triggers", "describe", name], capture.Command.Take(5));
            Assert.Equal("value(transport.pubsub.subscription)", capture.Flag("--format"));

            var patch = Assert.Single(Plan.Commands("gcloud", "pubsub", "subscriptions", "update", ShellQuoting.Variable(variable)));
            Assert.Equal(subscription.AckDeadlineSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), patch.Flag("--ack-deadline"));
            Assert.Equal($"{subscription.RetryPolicy!.MinimumBackoff.TotalSeconds}s", patch.Flag("--min-retry-delay"));
            Assert.Equal($"{subscription.RetryPolicy.MaximumBackoff.TotalSeconds}s", patch.Flag("--max-retry-delay"));
            if (subscription.DeadLetter is { } deadLetter)
            {
                Assert.Equal($"projects/{Project}/topics/{deadLetter.DeadLetterTopicId}", patch.Flag("--dead-letter-topic"));
                Assert.Equal(deadLetter.MaxDeliveryAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture), patch.Flag("--max-delivery-attempts"));
                Assert.Contains(new Binding("pubsub subscriptions ${" + variable + "}", "roles/pubsub.subscriber", PubSubAgent), Plan.Bindings());
            }
            else
            {
                Assert.Null(patch.Flag("--dead-letter-topic"));
            }

            // Order: the function exists before its trigger, the trigger before its subscription is patched.
            var steps = Plan.Steps.Select(s => s.Text).ToList();
            var deploy = steps.FindIndex(s => s.StartsWith($"gcloud run deploy {FunctionCatalog.ServiceOf(subscription)} ", StringComparison.Ordinal));
            var create = steps.FindIndex(s => s.StartsWith($"gcloud eventarc triggers create {name} ", StringComparison.Ordinal));
            var update = steps.FindIndex(s => s.StartsWith($"gcloud pubsub subscriptions update ${{{variable}}} ", StringComparison.Ordinal));
            Assert.True(deploy >= 0 && deploy < create && create < update, $"{name}: deploy {deploy}, trigger {create}, patch {update}");
        }
    }

    [Fact]
    public void DeadLetterTopicHasItsOwnSubscriptionAndThePubSubAgentMayPublishToIt()
    {
        var dlq = Topology.DeadLetterTopic;
        Assert.Contains(Topology.Subscriptions, s => s.TopicId == dlq && s.PushEndpoint is null);
        Assert.Single(Plan.Commands("gcloud", "pubsub", "subscriptions", "create", Topology.DeadLetterHoldSubscription));
        Assert.Contains(new Binding("pubsub topics " + dlq, "roles/pubsub.publisher", PubSubAgent), Plan.Bindings());
        Assert.Contains(new Binding($"iam service-accounts {Invoker["serviceAccount:".Length..]}", "roles/iam.serviceAccountTokenCreator", PubSubAgent), Plan.Bindings());
    }

    [Fact]
    public void ThePubSubAgentIsAskedForBeforeAnyGrantToIt_AsANewProjectMayNotHaveItYet()
    {
        var plan = Plan;
        var steps = plan.Steps.ToList();
        var identity = Assert.Single(plan.Commands("gcloud", "beta", "services", "identity", "create"));
        Assert.Equal(["gcloud", "beta", "services", "identity", "create", "--service=pubsub.googleapis.com", "--project=" + Project], identity.Command);
        Assert.True(steps.IndexOf(Assert.Single(plan.Commands("gcloud", "services", "enable"))) < steps.IndexOf(identity));
        var grantsToAgent = steps.Where(s => s.Flag("--member") == PubSubAgent).ToList();
        Assert.True(grantsToAgent.Count >= 3, plan.ToBashScript());
        Assert.All(grantsToAgent, g => Assert.True(steps.IndexOf(identity) < steps.IndexOf(g), g.Text));
        // Created on request, an agent does not get its usual role: the plan grants it.
        Assert.Contains(new Binding("projects " + Project, "roles/pubsub.serviceAgent", PubSubAgent), plan.Bindings());
    }

    [Theory]
    [InlineData("extract", "functions/Extract")]
    [InlineData("transform", "functions/Transform")]
    [InlineData("aggregate", "functions/Aggregate")]
    [InlineData("alert", "functions/Alert")]
    public void EachFunctionIsAPrivateCloudRunServiceBuiltFromItsProjectUnderItsOwnServiceAccount(string key, string project)
    {
        var deploy = Assert.Single(Plan.Commands("gcloud", "run", "deploy", "fp-" + key));
        Assert.Equal($"fp-{key}-fn@{Project}.iam.gserviceaccount.com", deploy.Flag("--service-account"));
        Assert.Equal("GOOGLE_BUILDABLE=" + project, deploy.Flag("--set-build-env-vars"));
        Assert.Equal("dotnet10", deploy.Flag("--base-image"));
        Assert.Equal(repo.Root, deploy.Flag("--source"));
        Assert.True(deploy.Has("--no-allow-unauthenticated"));
        Assert.Equal("internal", deploy.Flag("--ingress"));
        Assert.Contains("FP_POSTGRES_CONNECTION=fp-postgres-connection:latest", deploy.Flag("--set-secrets")!.Split(','));
        Assert.Equal($"{Project}:us-east4:fp-control", deploy.Flag("--add-cloudsql-instances"));
        Assert.Contains("DOTNET_RUNNING_IN_CONTAINER=true", deploy.Flag("--set-env-vars")!.Split(','));
        Assert.Contains(new Binding("run services fp-" + key, "roles/run.invoker", Invoker), Plan.Bindings());
    }

    [Fact]
    public void SourceBuildsRunAsABuildAccountHoldingRunBuilder_NotTheDefaultComputeAccount()
    {
        // Organisations that stop automatic grants leave the default compute account without roles: builds would fail.
        var builder = $"fp-builder@{Project}.iam.gserviceaccount.com";
        var plan = Plan;
        var steps = plan.Steps.ToList();
        var created = steps.IndexOf(Assert.Single(plan.Commands("gcloud", "iam", "service-accounts", "create", "fp-builder")));
        var grant = steps.FindIndex(s => s.Command.Contains("add-iam-policy-binding") && s.Flag("--role") == "roles/run.builder");
        Assert.Equal(new Binding("projects " + Project, "roles/run.builder", "serviceAccount:" + builder), plan.Bindings().Single(b => b.Role == "roles/run.builder"));
        Assert.True(created < grant);
        Assert.All(plan.Commands("gcloud", "run", "deploy"), deploy =>
        {
            Assert.Equal($"projects/{Project}/serviceAccounts/{builder}", deploy.Flag("--build-service-account"));
            Assert.True(steps.IndexOf(deploy) > grant, deploy.Text);
        });
    }

    [Fact]
    public void AggregateWritesGoldToTheDeployedBigQueryDataset()
    {
        var aggregate = EnvironmentOf("fp-aggregate");
        Assert.Equal("bigquery", aggregate["FP_WAREHOUSE"]);
        Assert.Equal(Project, aggregate["FP_BQ_PROJECT"]);
        Assert.Equal("financial_pipeline", aggregate["FP_BQ_DATASET"]);
        Assert.Equal("US", aggregate["FP_BQ_LOCATION"]);
        Assert.DoesNotContain("FP_WAREHOUSE", EnvironmentOf("fp-extract").Keys);
    }

    [Fact]
    public void TheFunctionsRunWithTheZombieThresholdTheStageRedeliveriesWereCheckedAgainst()
    {
        // 10 + 20 + 40 + 80 s of redeliveries against 90 + 15 s: a crashed worker's message is still redelivered when its
        // row goes stale, so a redelivery takes it over (audit: the local 1–2 s policy dead-lettered it in 7 s).
        Assert.Equal(TimeSpan.FromSeconds(150), DeliverySchedule.Span(Settings.RetryPolicy, Settings.MaxDeliveryAttempts));
        Assert.All(Topology.Subscriptions.Where(s => s.DeadLetter is not null), s => Assert.Equal((Settings.RetryPolicy, Settings.MaxDeliveryAttempts), (s.RetryPolicy, s.DeadLetter!.MaxDeliveryAttempts)));
        foreach (var service in new[] { "fp-extract", "fp-transform", "fp-aggregate", "fp-alert" })
        {
            var environment = EnvironmentOf(service);
            Assert.Equal(("90", "15"), (environment["FP_STALE_AFTER_SECONDS"], environment["FP_HEARTBEAT_SECONDS"]));
            var values = environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
            values["FP_POSTGRES_CONNECTION"] = "Host=/cloudsql/instance";
            var host = PipelineSettings.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
            Assert.Equal((Settings.StaleAfter, Settings.HeartbeatInterval), (host.StaleAfter, host.HeartbeatInterval));
        }
    }

    [Fact]
    public void APlanWhoseRedeliveriesEndBeforeAZombieIsStale_IsRefusedNamingTheSettings()
    {
        var raised = Assert.Throws<ArgumentException>(() => DeploymentPlanner.Build(Settings with { StaleAfter = TimeSpan.FromSeconds(200) }));
        Assert.Contains("StaleAfter, RetryPolicy, MaxDeliveryAttempts: max_delivery_attempts=5 with retry backoff minimum 10 s / maximum 600 s redelivers a message for 150 s", raised.Message, StringComparison.Ordinal);
        Assert.Contains("less than FP_STALE_AFTER_SECONDS=200 + FP_HEARTBEAT_SECONDS=15 = 215 s", raised.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => DeploymentPlanner.Build(Settings with { RetryPolicy = new RetryPolicySpec(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60)) }));
        Assert.NotNull(DeploymentPlanner.Build(Settings with { StaleAfter = TimeSpan.FromSeconds(200), MaxDeliveryAttempts = 6 })); // + 160 s

        // A topology built elsewhere is held to the deployment's threshold too.
        var shortRetries = PipelineTopology.Create(TopologySettings(TimeSpan.FromDays(7)) with { RetryPolicy = new RetryPolicySpec(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)), AllowDeadLetterBeforeTakeover = true });
        var functions = FunctionCatalog.Standard(Settings, shortRetries);
        var refused = Assert.Throws<InvalidOperationException>(() => DeploymentPlanner.Build(Settings, shortRetries, functions, [], []));
        Assert.Contains("subscription fp-extract: max_delivery_attempts=5", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AggregateKnowsTheBucketItsExternalTableReadsAndListsItOverGcs()
    {
        // Was: not set, so gold could not tell a job writing silver elsewhere and MERGEd it, deleting the job's hours.
        // The external table is created over the deployment's silver bucket; gold lists its partitions with objectViewer
        // (EachFunctionServiceAccountHoldsExactlyItsRoles).
        var aggregate = EnvironmentOf("fp-aggregate");
        Assert.Equal(Settings.SilverBucket, aggregate["FP_BQ_SILVER_BUCKET"]);
        Assert.Equal($"{Project}-fp-silver", aggregate["FP_BQ_SILVER_BUCKET"]);
        Assert.Equal("gcs", aggregate["FP_STORAGE"]);

        // The host accepts the deployed environment (FP_WAREHOUSE=bigquery requires both); the connection is a secret.
        var values = aggregate.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        values["FP_POSTGRES_CONNECTION"] = "Host=/cloudsql/instance";
        var settings = PipelineSettings.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        Assert.Equal(Settings.SilverBucket, settings.BigQuerySilverBucket);
    }

    [Theory]
    [InlineData("extract", "512Mi", "1")]
    [InlineData("aggregate", "512Mi", "80")]
    [InlineData("alert", "512Mi", "80")]
    [InlineData("transform", "2Gi", "1")]
    public void EachFunctionStatesItsMemoryAndConcurrency(string key, string memory, string concurrency)
    {
        var deploy = Assert.Single(Plan.Commands("gcloud", "run", "deploy", "fp-" + key));
        Assert.Equal(memory, deploy.Flag("--memory"));
        Assert.Equal(concurrency, deploy.Flag("--concurrency"));
    }

    [Fact]
    public void ExtractRunsOneWindowPerInstanceWithRoomForTheLargestWindowItAccepts()
    {
        // Measured (audit-deploy): a host running one window of 249,600 rows peaked at 387 MB RSS, two at once at 618 MB,
        // past 512 MiB. The row cap is sized for one run per instance; a new cap needs a new measurement.
        const long LargestWindowPeakBytes = 400L * 1024 * 1024;
        Assert.Equal(250_000, ExtractWindows.MaxWindowRows);
        var deploy = Assert.Single(Plan.Commands("gcloud", "run", "deploy", "fp-extract"));
        var concurrency = int.Parse(deploy.Flag("--concurrency")!, System.Globalization.CultureInfo.InvariantCulture);
        var memory = deploy.Flag("--memory")!;
        var bytes = long.Parse(memory[..^2], System.Globalization.CultureInfo.InvariantCulture) << (memory.EndsWith("Gi", StringComparison.Ordinal) ? 30 : 20);
        Assert.Equal(1, concurrency);
        Assert.True(bytes >= concurrency * LargestWindowPeakBytes, $"--memory={memory} holds fewer than {concurrency} windows of {ExtractWindows.MaxWindowRows} rows");
    }

    [Fact]
    public void TransformCapsItsHeapSoSpillFilesFitInItsMemory()
    {
        // 0x18000000 bytes = 384 MiB, the cap the silver bench measures under; /tmp (the spill) takes the rest.
        Assert.Equal("0x18000000", EnvironmentOf("fp-transform")["DOTNET_GCHeapHardLimit"]);
        Assert.Equal(384L * 1024 * 1024, Convert.ToInt64("18000000", 16));
        Assert.DoesNotContain("DOTNET_GCHeapHardLimit", EnvironmentOf("fp-extract").Keys);
    }

    [Theory]
    [InlineData("2GB", 80)]
    [InlineData("0Mi", 80)]
    [InlineData("512Mi", 0)]
    [InlineData("512Mi", 1001)]
    public void AFunctionWithImpossibleResourcesIsRefusedByName(string memory, int concurrency)
    {
        var functions = FunctionCatalog.Standard(Settings, Topology).Select(f => f.Key == "extract" ? f with { Memory = memory, Concurrency = concurrency } : f).ToList();
        var error = Assert.ThrowsAny<Exception>(() => DeploymentPlanner.Build(Settings, Topology, functions, [], []));
        Assert.Contains(memory == "512Mi" ? "functions[extract].Concurrency" : "functions[extract].Memory", error.Message, StringComparison.Ordinal);
    }

    private TopologySettings TopologySettings(TimeSpan retention) => new()
    {
        ProjectId = Project,
        ExtractEndpoint = FunctionCatalog.Endpoint(Settings, "extract"),
        TransformEndpoint = FunctionCatalog.Endpoint(Settings, "transform"),
        AggregateEndpoint = FunctionCatalog.Endpoint(Settings, "aggregate"),
        MessageRetention = retention,
        StaleAfter = Settings.StaleAfter,
        HeartbeatInterval = Settings.HeartbeatInterval,
    };

    private Dictionary<string, string> EnvironmentOf(string service) =>
        Assert.Single(Plan.Commands("gcloud", "run", "deploy", service)).Flag("--set-env-vars")!
            .Split(',').Select(e => e.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);

    [Fact]
    public void EachFunctionServiceAccountHoldsExactlyItsRoles()
    {
        var bronze = $"storage buckets gs://{Project}-fp-bronze";
        var silver = $"storage buckets gs://{Project}-fp-silver";
        var sql = ($"projects {Project}", "roles/cloudsql.client");
        var dbSecret = ("secrets fp-postgres-connection", "roles/secretmanager.secretAccessor");
        var expected = new Dictionary<string, (string Resource, string Role)[]>
        {
            // Extract reads silver after a stock split, to find the bars it must restate.
            ["extract"] = [("pubsub topics fp-bronze-completed", "roles/pubsub.publisher"), (bronze, "roles/storage.objectUser"), (silver, "roles/storage.objectViewer"), sql, dbSecret],
            ["transform"] = [("pubsub topics fp-silver-completed", "roles/pubsub.publisher"), (bronze, "roles/storage.objectViewer"), (silver, "roles/storage.objectUser"), sql, dbSecret],
            ["aggregate"] =
            [
                // BigQuery's external table needs storage.buckets.get too, which objectViewer lacks.
                ("pubsub topics fp-gold-completed", "roles/pubsub.publisher"), (silver, "roles/storage.objectViewer"), (silver, "roles/storage.legacyBucketReader"), sql, dbSecret,
                ($"projects {Project}", "roles/bigquery.jobUser"), ($"bq dataset {Project}:financial_pipeline", "roles/bigquery.dataEditor"),
            ],
            ["alert"] = [sql, dbSecret, ("secrets fp-slack-webhook", "roles/secretmanager.secretAccessor")],
        };
        var bindings = Plan.Bindings();
        foreach (var (key, roles) in expected)
        {
            // Stages also report zombie takeovers on the alerts topic, when the topology has one.
            var alerts = key != "alert" && Topology.Topics.Contains("fp-alerts") ? [("pubsub topics fp-alerts", "roles/pubsub.publisher")] : Array.Empty<(string, string)>();
            var member = $"serviceAccount:fp-{key}-fn@{Project}.iam.gserviceaccount.com";
            var held = bindings.Where(b => b.Member == member).Select(b => (b.Resource, b.Role)).Order().ToList();
            Assert.Equal(roles.Concat(alerts).Order().ToList(), held);
        }
    }

    [Fact]
    public void TheInvokerHoldsOnlyRunInvokerOnTheFunctions()
    {
        var held = Plan.Bindings().Where(b => b.Member == Invoker).ToList();
        Assert.Equal(["fp-aggregate", "fp-alert", "fp-extract", "fp-transform"], held.Select(b => b.Resource["run services ".Length..]).Order());
        Assert.All(held, b => Assert.Equal("roles/run.invoker", b.Role));
    }

    [Fact]
    public void NothingIsPublicOrUnauthenticated()
    {
        var script = Plan.ToBashScript();
        Assert.DoesNotContain("--allow-unauthenticated", script, StringComparison.Ordinal);
        Assert.DoesNotContain("allUsers", script, StringComparison.Ordinal);
        Assert.DoesNotContain("allAuthenticatedUsers", script, StringComparison.Ordinal);
        foreach (var bucket in new[] { Settings.BronzeBucket, Settings.SilverBucket })
        {
            var create = Assert.Single(Plan.Commands("gcloud", "storage", "buckets", "create", "gs://" + bucket));
            var update = Assert.Single(Plan.Commands("gcloud", "storage", "buckets", "update", "gs://" + bucket));
            foreach (var step in new[] { create, update })
            {
                Assert.True(step.Has("--uniform-bucket-level-access") && step.Has("--public-access-prevention"), step.Text);
            }
        }
    }

    [Fact]
    public void TheControlDatabaseExistsBeforeAnyFunctionIsDeployedAndOnlyConnectorsReachIt()
    {
        var plan = Plan;
        var steps = plan.Steps.ToList();
        var instance = Assert.Single(plan.Commands("gcloud", "sql", "instances", "create", "fp-control"));
        Assert.Equal(StepKind.CreateIfMissing, instance.Kind);
        Assert.Equal(["gcloud", "sql", "instances", "describe", "fp-control", "--project=" + Project], instance.Check);
        Assert.Equal("POSTGRES_15", instance.Flag("--database-version"));
        Assert.Equal(Settings.Region, instance.Flag("--region"));
        Assert.Equal("REQUIRED", instance.Flag("--connector-enforcement"));
        Assert.Equal("ENCRYPTED_ONLY", instance.Flag("--ssl-mode"));
        Assert.True(instance.Has("--deletion-protection") && instance.Flag("--backup-start-time") is not null, instance.Text);
        Assert.DoesNotContain(instance.Command, word => word.StartsWith("--authorized-networks", StringComparison.Ordinal));
        // Cloud SQL's default for the tier's 3.75 GB is 100 connections; every instance of the 4 services (10 each)
        // holding its pool of 5 needs 200, and 25 are kept for operators and Cloud SQL's own.
        Assert.Equal("max_connections=225", instance.Flag("--database-flags"));
        Assert.Equal("max_connections=4025", Assert.Single(DeploymentPlanner.Build(Settings with { MaxInstances = 200 }).Commands("gcloud", "sql", "instances", "create")).Flag("--database-flags"));
        var database = Assert.Single(plan.Commands("gcloud", "sql", "databases", "create", "financial_pipeline"));
        Assert.Equal("fp-control", database.Flag("--instance"));
        Assert.True(steps.IndexOf(instance) < steps.IndexOf(database));

        var deploys = plan.Commands("gcloud", "run", "deploy");
        Assert.Equal(4, deploys.Count);
        Assert.All(deploys, d => Assert.True(steps.IndexOf(d) > steps.IndexOf(database), d.Text));
        Assert.All(deploys, d => Assert.Equal(Settings.CloudSqlConnectionName, d.Flag("--add-cloudsql-instances")));
    }

    [Fact]
    public void SecretsAreReferencedNeverValuedAndMustExistBeforeDeploying()
    {
        var plan = Plan;
        var steps = plan.Steps.ToList();
        foreach (var secret in new[] { "fp-postgres-connection", "fp-slack-webhook" })
        {
            var create = Assert.Single(plan.Commands("gcloud", "secrets", "create", secret));
            var require = Assert.Single(steps, s => s.Kind == StepKind.Require && s.Flag("--secret") == secret);
            Assert.Contains($"gcloud secrets versions add {secret}", require.FailureMessage, StringComparison.Ordinal);
            Assert.True(steps.IndexOf(create) < steps.IndexOf(require));
            Assert.All(plan.Commands("gcloud", "run", "deploy"), d => Assert.True(steps.IndexOf(d) > steps.IndexOf(require), d.Text));
        }

        // The only value the plan ever stores is the control DB's connection string, generated at apply time.
        var stores = steps.SelectMany(s => s.Commands).Where(c => c.Argv.Take(4).SequenceEqual(["gcloud", "secrets", "versions", "add"])).ToList();
        Assert.Equal("fp-postgres-connection", Assert.Single(stores).Argv[4]);
    }

    [Fact]
    public void TheControlDbUserGetsAGeneratedPasswordStoredOnlyInItsSecretAndOnlyWhileTheSecretIsEmpty()
    {
        var plan = Plan;
        var steps = plan.Steps.ToList();
        var password = "--password=${" + DeploymentPlanner.ControlDbPasswordVariable + "}";
        var credentials = Assert.Single(steps, s => s.Kind == StepKind.GenerateSecretIfMissing);
        Assert.Equal(["gcloud", "secrets", "versions", "describe", "latest", "--secret=fp-postgres-connection", "--project=" + Project], credentials.Check);
        Assert.Equal(DeploymentPlanner.ControlDbPasswordVariable, credentials.Variable);

        Assert.Equal(2, credentials.Commands.Count);
        var user = credentials.Commands[0];
        // gcloud logs each command's arguments to a file it keeps for 30 days: file logging is off for these two.
        Assert.Equal(["env", "CLOUDSDK_CORE_DISABLE_FILE_LOGGING=true", "gcloud", "sql", "users", "create", "fp_app", "--instance=fp-control", "--project=" + Project, password], user.Argv.Select(ShellQuoting.Display));
        Assert.Equal(["env", "CLOUDSDK_CORE_DISABLE_FILE_LOGGING=true", "gcloud", "sql", "users", "set-password", "fp_app", "--instance=fp-control", "--project=" + Project, password], user.OrElse!.Select(ShellQuoting.Display));
        var store = credentials.Commands[1];
        Assert.Equal(["gcloud", "secrets", "versions", "add", "fp-postgres-connection", "--project=" + Project, "--data-file=-"], store.Argv);

        // What the functions will read: Npgsql's reading of the stored value, with the password left to apply time.
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(ShellQuoting.Display(store.Input!));
        Assert.Equal("/cloudsql/" + Settings.CloudSqlConnectionName, connection.Host);
        Assert.Equal("financial_pipeline", connection.Database);
        Assert.Equal("fp_app", connection.Username);
        Assert.Equal("${" + DeploymentPlanner.ControlDbPasswordVariable + "}", connection.Password);
        Assert.Equal(5, connection.MaxPoolSize);

        // After the instance and database exist, after the secret exists, before the requirement that it has a value.
        Assert.True(steps.IndexOf(Assert.Single(plan.Commands("gcloud", "sql", "databases", "create"))) < steps.IndexOf(credentials));
        Assert.True(steps.IndexOf(Assert.Single(plan.Commands("gcloud", "secrets", "create", "fp-postgres-connection"))) < steps.IndexOf(credentials));
        Assert.True(steps.IndexOf(credentials) < steps.FindIndex(s => s.Kind == StepKind.Require && s.Flag("--secret") == "fp-postgres-connection"));

        // No password in the plan: every mention of one is the apply-time variable.
        var script = plan.ToBashScript();
        Assert.DoesNotMatch(@"--password=(?!""\$\{FP_CONTROL_DB_PASSWORD\}"")", script);
        Assert.DoesNotMatch(@"Password=(?!'""\$\{FP_CONTROL_DB_PASSWORD\}"")", script);
    }

    [Fact]
    public void AnotherControlDbUserIsCreatedAndNamedInTheConnectionString()
    {
        var plan = DeploymentPlanner.Build(Settings with { ControlDbUser = "pipeline_rw" });
        var credentials = Assert.Single(plan.Steps, s => s.Kind == StepKind.GenerateSecretIfMissing);
        Assert.Equal("pipeline_rw", credentials.Commands[0].Argv[6]);
        Assert.Equal("pipeline_rw", new Npgsql.NpgsqlConnectionStringBuilder(ShellQuoting.Display(credentials.Commands[1].Input!)).Username);
    }

    [Fact]
    public void ASubscriptionAndTopicAddedToTheTopologyAppearWithoutChangingThePlanner()
    {
        var topology = Topology with
        {
            Topics = [.. Topology.Topics, "fp-audit"],
            Subscriptions =
            [
                .. Topology.Subscriptions,
                new SubscriptionSpec("fp-alert-audit", "fp-audit", PipelineTopology.PushUrl(FunctionCatalog.Endpoint(Settings, "alert"), Project, "fp-audit"), 60, new RetryPolicySpec(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(600)), null),
                new SubscriptionSpec("fp-audit-hold", "fp-audit", null, 30, null, null, TimeSpan.FromDays(2)),
            ],
        };
        var plan = DeploymentPlanner.Build(Settings, topology, FunctionCatalog.Standard(Settings, topology), [], []);

        Assert.Single(plan.Commands("gcloud", "pubsub", "topics", "create", "fp-audit"));
        var trigger = Assert.Single(plan.Commands("gcloud", "eventarc", "triggers", "create", "fp-alert-audit-trigger"));
        Assert.Equal($"projects/{Project}/topics/fp-audit", trigger.Flag("--transport-topic"));
        Assert.Equal("fp-alert", trigger.Flag("--destination-run-service"));
        var patch = Assert.Single(plan.Commands("gcloud", "pubsub", "subscriptions", "update", ShellQuoting.Variable("sub_fp_alert_audit")));
        Assert.Equal("60", patch.Flag("--ack-deadline"));
        Assert.Equal("fp-audit", Assert.Single(plan.Commands("gcloud", "pubsub", "subscriptions", "create", "fp-audit-hold")).Flag("--topic"));
        var holdUpdate = Assert.Single(plan.Commands("gcloud", "pubsub", "subscriptions", "update", "fp-audit-hold"));
        Assert.Equal(("30", "2d", null), (holdUpdate.Flag("--ack-deadline"), holdUpdate.Flag("--message-retention-duration"), holdUpdate.Flag("--expiration-period")));
        Assert.Null(patch.Flag("--message-retention-duration")); // a spec without retention leaves Eventarc's
    }

    [Fact]
    public void WithAnAlertsTopicTheStagesMayPublishToItAndTheAlertFunctionMayNot()
    {
        var topology = Topology.Topics.Contains("fp-alerts") ? Topology : Topology with { Topics = [.. Topology.Topics, "fp-alerts"] };
        var plan = DeploymentPlanner.Build(Settings, topology, FunctionCatalog.Standard(Settings, topology), [], []);

        var publishers = plan.Bindings().Where(b => b.Resource == "pubsub topics fp-alerts" && b.Role == "roles/pubsub.publisher").Select(b => b.Member).Order();
        Assert.Equal(["aggregate", "extract", "transform"], publishers.Select(m => m["serviceAccount:fp-".Length..m.IndexOf("-fn@", StringComparison.Ordinal)]));
    }

    [Fact]
    public void APushSubscriptionNoFunctionReceivesIsRefusedByName()
    {
        var topology = Topology with
        {
            Subscriptions = [.. Topology.Subscriptions, new SubscriptionSpec("fp-orphan", "fp-start", "https://fp-nobody.eventarc.invalid/", 60, null, null)],
        };
        var error = Assert.Throws<InvalidOperationException>(() => DeploymentPlanner.Build(Settings, topology, FunctionCatalog.Standard(Settings, topology), [], []));
        Assert.Contains("fp-orphan", error.Message, StringComparison.Ordinal);
        Assert.Contains("fp-nobody", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFunctionWithoutItsProjectFolderIsRefusedByName()
    {
        var functions = FunctionCatalog.Standard(Settings, Topology).Select(f => f.Key == "alert" ? f with { SourceProject = "functions/Missing" } : f).ToList();
        var error = Assert.Throws<InvalidOperationException>(() => DeploymentPlanner.Build(Settings, Topology, functions, [], []));
        Assert.Contains("functions[alert].SourceProject", error.Message, StringComparison.Ordinal);
    }
}
