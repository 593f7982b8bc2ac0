using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using FinancialPipeline.Deploy;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp deploy plan</c> prints the GCP deployment (a bash script of gcloud/bq commands generated from the topology)
/// without running anything; <c>fp deploy apply</c> runs that same script.
/// </summary>
internal static class DeployCommand
{
    public static Command Create()
    {
        var options = new DeployOptions();
        var output = new Option<string>("--output") { Description = "Write the script to this file instead of standard output" };
        var plan = new Command("plan", "Print the deployment script; nothing is run");
        options.AddTo(plan);
        plan.Options.Add(output);
        plan.SetAction(parse => Plan(options.Read(parse), parse.GetValue(output), options.InOptionTerms));

        var apply = new Command("apply", "Generate the deployment script and run it with bash (gcloud and bq must be logged in)");
        options.AddTo(apply);
        apply.SetAction((parse, ct) => ApplyAsync(options.Read(parse), options.InOptionTerms, ct));

        var deploy = new Command("deploy", "Deploy the pipeline to Google Cloud (plan, apply)");
        deploy.Subcommands.Add(plan);
        deploy.Subcommands.Add(apply);
        return deploy;
    }

    private static int Plan(DeploymentSettings? settings, string? output, Func<string, string> inOptionTerms)
    {
        if (Render(settings, inOptionTerms) is not { } script)
        {
            return 2;
        }

        if (output is null)
        {
            Console.Out.Write(script);
        }
        else
        {
            try
            {
                File.WriteAllText(output, script);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A missing folder, a read-only place: the file system's answer, in one line.
                Console.Error.WriteLine($"fp deploy plan: --output '{output}' could not be written: {ex.Message}");
                return 1;
            }

            Console.Error.WriteLine($"fp deploy plan: wrote {output}");
        }

        return 0;
    }

    private static async Task<int> ApplyAsync(DeploymentSettings? settings, Func<string, string> inOptionTerms, CancellationToken ct)
    {
        if (Render(settings, inOptionTerms) is not { } script)
        {
            return 2;
        }

        var path = Path.Combine(Path.GetTempPath(), $"fp-deploy-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(path, script, ct);
        try
        {
            var start = new ProcessStartInfo("bash") { UseShellExecute = false, WorkingDirectory = settings!.RepositoryRoot };
            start.ArgumentList.Add(path);
            using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start bash");
            await process.WaitForExitAsync(ct);
            return process.ExitCode;
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <param name="inOptionTerms">A refusal of the settings or the planner, said with the options' names.</param>
    private static string? Render(DeploymentSettings? settings, Func<string, string> inOptionTerms)
    {
        if (settings is null)
        {
            return null;
        }

        try
        {
            return DeploymentPlanner.Build(settings).ToBashScript();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or InvalidDataException or IOException)
        {
            Console.Error.WriteLine($"fp deploy: {inOptionTerms(ex.Message)}");
            return null;
        }
    }

    private sealed class DeployOptions
    {
        // The options' defaults are DeploymentSettings' own: one place states them.
        private static readonly DeploymentSettings Defaults = new() { ProjectId = "-", BronzeBucket = "-", SilverBucket = "-", RepositoryRoot = "-" };

        private readonly Option<string> project = new("--project") { Description = "Google Cloud project id (default FP_PROJECT_ID)" };
        private readonly Option<string> region = new("--region") { Description = "Region of the functions, triggers and Cloud SQL", DefaultValueFactory = _ => Defaults.Region };
        private readonly Option<string> prefix = new("--prefix") { Description = "Prefix of every topic, subscription, function and service account", DefaultValueFactory = _ => Defaults.Prefix };
        private readonly Option<string> bronzeBucket = new("--bronze-bucket") { Description = "Bronze bucket (default PROJECT-fp-bronze)" };
        private readonly Option<string> silverBucket = new("--silver-bucket") { Description = "Silver bucket (default PROJECT-fp-silver)" };
        private readonly Option<string> bucketLocation = new("--bucket-location") { Description = "Bucket location (default: the region)" };
        private readonly Option<string> dataset = new("--dataset") { Description = "BigQuery dataset", DefaultValueFactory = _ => Defaults.BigQueryDataset };
        private readonly Option<string> bigQueryLocation = new("--bq-location") { Description = "BigQuery location", DefaultValueFactory = _ => Defaults.BigQueryLocation };
        private readonly Option<string> sqlInstance = new("--sql-instance") { Description = "Cloud SQL instance of the control DB", DefaultValueFactory = _ => Defaults.CloudSqlInstance };
        private readonly Option<string> sqlTier = new("--sql-tier") { Description = "Cloud SQL machine tier, when the instance is created", DefaultValueFactory = _ => Defaults.CloudSqlTier };
        private readonly Option<string> sqlVersion = new("--sql-version") { Description = "Cloud SQL PostgreSQL version, when the instance is created", DefaultValueFactory = _ => Defaults.CloudSqlDatabaseVersion };
        private readonly Option<string> controlDatabase = new("--control-db") { Description = "Database of the control tables on the instance", DefaultValueFactory = _ => Defaults.ControlDatabase };
        private readonly Option<string> controlDbUser = new("--control-db-user") { Description = "PostgreSQL user of the functions, created with a generated password while the connection-string secret has no version", DefaultValueFactory = _ => Defaults.ControlDbUser };
        private readonly Option<string> postgresSecret = new("--postgres-secret") { Description = "Secret holding the Npgsql connection string", DefaultValueFactory = _ => Defaults.PostgresSecret };
        private readonly Option<string> slackSecret = new("--slack-secret") { Description = "Secret holding the Slack webhook URL", DefaultValueFactory = _ => Defaults.SlackWebhookSecret };
        private readonly Option<int> maxInstances = CheckedOptions.WholeNumber(
            "--max-instances", "Cloud Run max instances per function", Defaults.MaxInstances, min: 1, max: DeploymentSettings.MaxInstancesLimit);
        private readonly Option<int?> bronzeRetentionDays = CheckedOptions.OptionalWholeNumber(
            "--bronze-retention-days",
            $"Delete bronze objects this many days after Extract wrote them, {DeploymentSettings.MinBronzeRetentionDays}-{DeploymentSettings.MaxBronzeRetentionDays}: " +
            $"a redelivered event re-reads its bronze objects, and the pipeline's subscriptions keep a message up to {DeploymentSettings.MinBronzeRetentionDays - 1} days. " +
            "Replaces the bronze bucket's lifecycle configuration (default: no lifecycle step; the bucket's own is left as it is)",
            DeploymentSettings.MinBronzeRetentionDays,
            "a whole number of days",
            DeploymentSettings.MaxBronzeRetentionDays);

        private readonly Option<string> repoRoot = new("--repo-root") { Description = "Repository root (default: the folder above the current one holding FinancialPipeline.sln)" };

        /// <summary>
        /// <paramref name="message"/> with each setting named by the option that sets it, as the user typed them:
        /// "ProjectId: 'X' is invalid" is "--project 'X' is invalid", a function's SourceProject is --repo-root's. The
        /// library's messages name the settings (its callers set those); a quoted value is left as it is.
        /// </summary>
        public string InOptionTerms(string message)
        {
            var options = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [nameof(DeploymentSettings.ProjectId)] = project.Name,
                [nameof(DeploymentSettings.Region)] = region.Name,
                [nameof(DeploymentSettings.Prefix)] = prefix.Name,
                [nameof(DeploymentSettings.BronzeBucket)] = bronzeBucket.Name,
                [nameof(DeploymentSettings.SilverBucket)] = silverBucket.Name,
                [nameof(DeploymentSettings.BucketLocation)] = bucketLocation.Name,
                [nameof(DeploymentSettings.BigQueryDataset)] = dataset.Name,
                [nameof(DeploymentSettings.BigQueryLocation)] = bigQueryLocation.Name,
                [nameof(DeploymentSettings.CloudSqlInstance)] = sqlInstance.Name,
                [nameof(DeploymentSettings.CloudSqlTier)] = sqlTier.Name,
                [nameof(DeploymentSettings.CloudSqlDatabaseVersion)] = sqlVersion.Name,
                [nameof(DeploymentSettings.ControlDatabase)] = controlDatabase.Name,
                [nameof(DeploymentSettings.ControlDbUser)] = controlDbUser.Name,
                [nameof(DeploymentSettings.PostgresSecret)] = postgresSecret.Name,
                [nameof(DeploymentSettings.SlackWebhookSecret)] = slackSecret.Name,
                [nameof(DeploymentSettings.MaxInstances)] = maxInstances.Name,
                [nameof(DeploymentSettings.BronzeRetentionDays)] = bronzeRetentionDays.Name,
                [nameof(DeploymentSettings.RepositoryRoot)] = repoRoot.Name,
            };
            // A quoted value, a function's source folder, or a setting's name (its colon dropped before a quoted value,
            // as the CLI says "--limit 'abc' must be …").
            var settingNames = new Regex(
                $@"'[^']*'|(?<setting>functions\[[^\]]*\]\.SourceProject|\b(?:{string.Join('|', options.Keys)})\b)(?<colon>:(?= '))?",
                RegexOptions.CultureInvariant,
                TimeSpan.FromSeconds(1));
            return settingNames.Replace(message, m =>
                !m.Groups["setting"].Success ? m.Value
                : options.TryGetValue(m.Groups["setting"].Value, out var option) ? option
                : repoRoot.Name);
        }

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { project, region, prefix, bronzeBucket, silverBucket, bucketLocation, dataset, bigQueryLocation, sqlInstance, sqlTier, sqlVersion, controlDatabase, controlDbUser, postgresSecret, slackSecret, maxInstances, bronzeRetentionDays, repoRoot })
            {
                command.Options.Add(option);
            }
        }

        public DeploymentSettings? Read(ParseResult parse)
        {
            var projectId = parse.GetValue(project) ?? Environment.GetEnvironmentVariable("FP_PROJECT_ID");
            if (string.IsNullOrWhiteSpace(projectId))
            {
                Console.Error.WriteLine("fp deploy: --project is required (or set FP_PROJECT_ID)");
                return null;
            }

            var root = parse.GetValue(repoRoot) is { } given ? Path.GetFullPath(given) : FindRepositoryRoot();
            if (root is null)
            {
                Console.Error.WriteLine("fp deploy: FinancialPipeline.sln not found above the current folder; pass --repo-root");
                return null;
            }

            var defaults = DeploymentSettings.ForProject(projectId, root);
            return defaults with
            {
                Region = parse.GetValue(region)!,
                Prefix = parse.GetValue(prefix)!,
                BronzeBucket = parse.GetValue(bronzeBucket) ?? defaults.BronzeBucket,
                SilverBucket = parse.GetValue(silverBucket) ?? defaults.SilverBucket,
                BucketLocation = parse.GetValue(bucketLocation),
                BigQueryDataset = parse.GetValue(dataset)!,
                BigQueryLocation = parse.GetValue(bigQueryLocation)!,
                CloudSqlInstance = parse.GetValue(sqlInstance)!,
                CloudSqlTier = parse.GetValue(sqlTier)!,
                CloudSqlDatabaseVersion = parse.GetValue(sqlVersion)!,
                ControlDatabase = parse.GetValue(controlDatabase)!,
                ControlDbUser = parse.GetValue(controlDbUser)!,
                PostgresSecret = parse.GetValue(postgresSecret)!,
                SlackWebhookSecret = parse.GetValue(slackSecret)!,
                MaxInstances = parse.GetValue(maxInstances),
                BronzeRetentionDays = parse.GetValue(bronzeRetentionDays),
            };
        }

        private static string? FindRepositoryRoot()
        {
            for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "FinancialPipeline.sln")))
                {
                    return dir.FullName;
                }
            }

            return null;
        }
    }
}
