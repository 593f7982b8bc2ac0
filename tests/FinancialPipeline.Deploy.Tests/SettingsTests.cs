namespace FinancialPipeline.Deploy.Tests;

public sealed class SettingsTests(RepositoryFixture repo) : IClassFixture<RepositoryFixture>
{
    public static TheoryData<string, Func<DeploymentSettings, DeploymentSettings>> InvalidSettings => new()
    {
        { "ProjectId", s => s with { ProjectId = "Acme_Prod" } },
        { "Region", s => s with { Region = "us east4; rm -rf /" } },
        { "Prefix", s => s with { Prefix = "FP-" } },
        { "BronzeBucket", s => s with { BronzeBucket = "gs://bronze" } },
        { "BronzeBucket", s => s with { BronzeBucket = "acme-google-bronze" } }, // GCS refuses 'google' in a name
        { "SilverBucket", s => s with { SilverBucket = "10.0.0.1" } },           // and a name that reads as an IP address
        { "SilverBucket", s => s with { SilverBucket = s.BronzeBucket } },
        { "BigQueryDataset", s => s with { BigQueryDataset = "gold-layer" } },
        { "BigQueryLocation", s => s with { BigQueryLocation = "U S" } },
        // BigQuery queries a bucket in its own location, or a single region inside its multi-region; nothing else.
        { "BigQueryLocation", s => s with { Region = "europe-west1" } },                              // US dataset, EU bucket
        { "BigQueryLocation", s => s with { BigQueryLocation = "EU" } },                              // EU dataset, us-east4 bucket
        { "BigQueryLocation", s => s with { Region = "europe-west2", BigQueryLocation = "EU" } },     // London is not in the EU
        { "BigQueryLocation", s => s with { Region = "northamerica-northeast1" } },                   // Montréal is not in US
        { "BigQueryLocation", s => s with { BucketLocation = "US", BigQueryLocation = "us-east4" } }, // a regional dataset reads its region only
        { "BigQueryLocation", s => s with { BigQueryLocation = "us-central1" } },
        { "CloudSqlInstance", s => s with { CloudSqlInstance = "Control DB" } },
        { "CloudSqlTier", s => s with { CloudSqlTier = "large" } },
        { "CloudSqlDatabaseVersion", s => s with { CloudSqlDatabaseVersion = "MYSQL_8_0" } },
        { "ControlDatabase", s => s with { ControlDatabase = "control-db" } },
        { "ControlDbUser", s => s with { ControlDbUser = "fp-app" } },
        { "ControlDbUser", s => s with { ControlDbUser = "app;DROP ROLE x" } },
        { "ControlDbUser", s => s with { ControlDbUser = "postgres" } },
        { "ControlDbUser", s => s with { ControlDbUser = "cloudsqlsuperuser" } },
        { "PostgresSecret", s => s with { PostgresSecret = "a/b" } },
        { "SlackWebhookSecret", s => s with { SlackWebhookSecret = "" } },
        { "BaseImage", s => s with { BaseImage = "dotnet8'" } },
        { "Prefix", s => s with { Prefix = "pipeline-production-" } },
        { "MaxInstances", s => s with { MaxInstances = 0 } },
        // A redelivered event re-reads its bronze objects, and Pub/Sub keeps a message up to 7 days.
        { "BronzeRetentionDays", s => s with { BronzeRetentionDays = 7 } },
        { "BronzeRetentionDays", s => s with { BronzeRetentionDays = 0 } },
        { "BronzeRetentionDays", s => s with { BronzeRetentionDays = -1 } },
        { "BronzeRetentionDays", s => s with { BronzeRetentionDays = 36_501 } },
        { "RepositoryRoot", s => s with { RepositoryRoot = "relative/path" } },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void InvalidSettingIsRefusedNamingIt(string setting, Func<DeploymentSettings, DeploymentSettings> change)
    {
        var error = Assert.Throws<ArgumentException>(() => DeploymentPlanner.Build(change(repo.Settings)));
        Assert.StartsWith(setting + ":", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("us-east4", null, "US")]
    [InlineData("us-east4", null, "us-east4")]
    [InlineData("europe-west1", null, "EU")]
    [InlineData("europe-west1", null, "europe-west1")]
    [InlineData("europe-west1", "europe-west3", "eu")]
    [InlineData("us-east4", "US", "US")]
    [InlineData("europe-west1", "eu", "EU")]
    [InlineData("asia-northeast1", null, "asia-northeast1")]
    public void BucketsBigQueryCanQueryAreAccepted(string region, string? bucketLocation, string bigQueryLocation)
    {
        var settings = repo.Settings with { Region = region, BucketLocation = bucketLocation, BigQueryLocation = bigQueryLocation };
        var plan = DeploymentPlanner.Build(settings);
        Assert.Single(plan.Commands("bq", "--project_id=" + settings.ProjectId, "--location=" + bigQueryLocation, "mk"));
        var silver = Assert.Single(plan.Commands("gcloud", "storage", "buckets", "create", "gs://" + settings.SilverBucket));
        Assert.Equal(bucketLocation ?? region, silver.Flag("--location"));
    }

    [Fact]
    public void DefaultsDeriveFromTheProjectAndPrefix()
    {
        var settings = repo.Settings.Validate();
        Assert.Equal("acme-markets-prod-fp-bronze", settings.BronzeBucket);
        Assert.Equal("acme-markets-prod-fp-silver", settings.SilverBucket);
        Assert.Equal("fp-invoker", settings.InvokerServiceAccountId);
        Assert.Equal("acme-markets-prod:us-east4:fp-control", settings.CloudSqlConnectionName);
        Assert.Equal("us-east4", settings.EffectiveBucketLocation);
    }

    [Fact]
    public void AnotherPrefixGivesAnIndependentSetOfNames()
    {
        var plan = DeploymentPlanner.Build(repo.Settings with { Prefix = "stg-" });
        Assert.Single(plan.Commands("gcloud", "pubsub", "topics", "create", "stg-start"));
        Assert.Single(plan.Commands("gcloud", "run", "deploy", "stg-extract"));
        Assert.Single(plan.Commands("gcloud", "iam", "service-accounts", "create", "stg-invoker"));
        Assert.All(plan.Commands("gcloud", "pubsub", "topics", "create"), s => Assert.StartsWith("stg-", s.Command[4], StringComparison.Ordinal));
        Assert.All(plan.Commands("gcloud", "run", "deploy"), s => Assert.StartsWith("stg-", s.Command[3], StringComparison.Ordinal));
        Assert.All(plan.Commands("gcloud", "eventarc", "triggers", "create"), s => Assert.StartsWith("stg-", s.Command[4], StringComparison.Ordinal));
    }
}
