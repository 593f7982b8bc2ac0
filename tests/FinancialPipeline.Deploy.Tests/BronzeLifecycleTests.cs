using System.Text.Json;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Deploy.Tests;

/// <summary>
/// <c>--bronze-retention-days</c>: one lifecycle rule on the bronze bucket, deleting only bronze objects, only when asked,
/// and never before a redelivered event could still need them.
/// </summary>
public sealed class BronzeLifecycleTests(RepositoryFixture repo) : IClassFixture<RepositoryFixture>
{
    private const string LifecycleFlag = "--lifecycle-file";

    private DeploymentSettings Settings => repo.Settings;

    [Fact]
    public void WithoutARetentionNoStepTouchesAnyBucketsLifecycle()
    {
        var plan = DeploymentPlanner.Build(Settings);

        Assert.Null(Settings.BronzeRetentionDays);
        Assert.DoesNotContain(plan.Steps, s => s.Kind == StepKind.RunWithInputFile);
        Assert.DoesNotContain(plan.Steps, s => s.Command.Any(a => a.Contains("lifecycle", StringComparison.OrdinalIgnoreCase)));
        Assert.DoesNotContain("lifecycle", plan.ToBashScript(), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(30)]
    [InlineData(36_500)]
    public void WithARetentionOneStepRightAfterTheBronzeBucketsOwnSetsItsLifecycleToOneRule(int days)
    {
        var plan = DeploymentPlanner.Build(Settings with { BronzeRetentionDays = days });
        var bronze = "gs://" + Settings.BronzeBucket;

        var step = Assert.Single(plan.Steps, s => s.Command.Any(a => a.StartsWith(LifecycleFlag, StringComparison.Ordinal)));
        Assert.Equal(["gcloud", "storage", "buckets", "update", bronze, "--project=" + Settings.ProjectId], step.Command.Take(6));
        Assert.Equal("${" + DeploymentPlanner.LifecycleFileVariable + "}", step.Flag(LifecycleFlag));
        Assert.Equal(StepKind.RunWithInputFile, step.Kind);
        Assert.Contains("replaces the bucket's whole lifecycle configuration", step.Comment, StringComparison.Ordinal);

        var steps = plan.Steps.ToList();
        var create = steps.FindIndex(s => s.Kind == StepKind.CreateIfMissing && s.Command.Take(5).SequenceEqual(["gcloud", "storage", "buckets", "create", bronze]));
        var update = steps.FindIndex(s => s.Command.Take(5).SequenceEqual(["gcloud", "storage", "buckets", "update", bronze]) && s.Has("--uniform-bucket-level-access"));
        Assert.True(create >= 0 && update == create + 1, $"bronze create {create}, update {update}");
        Assert.Equal(update + 1, steps.IndexOf(step));

        var (age, prefixes, json) = Rule(step.Stdin!);
        Assert.Equal(days, age);
        Assert.Equal([ObjectLayout.BronzeRootPrefix], prefixes);
        Assert.Equal("financial_quotes/ingest_date=", ObjectLayout.BronzeRootPrefix); // the layout on GCS today
        Assert.Equal(DeploymentPlanner.BronzeLifecycleJson(days), json);
    }

    [Fact]
    public void TheSilverBucketNeverGetsALifecycleRule()
    {
        var plan = DeploymentPlanner.Build(Settings with { BronzeRetentionDays = 30 });

        Assert.All(
            plan.Steps.Where(s => s.Command.Contains("gs://" + Settings.SilverBucket)),
            s => Assert.DoesNotContain(s.Command, a => a.Contains("lifecycle", StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public void TheRuleDeletesEveryBronzeObject_AndNoSilverOrQuarantineObject_InABucketAJobUsesForBoth()
    {
        // The settings refuse one bucket for both (SettingsTests), but a job row without a silver bucket writes its silver
        // and quarantine objects into its bronze bucket (JobConfig): the prefix alone keeps the rule off them.
        var (_, prefixes, _) = Rule(DeploymentPlanner.BronzeLifecycleJson(30));
        var prefix = Assert.Single(prefixes);
        var execution = Guid.Parse("6f0e8d7c-1111-4222-8333-944455556666");
        var instant = new DateTimeOffset(2026, 11, 20, 23, 59, 0, TimeSpan.Zero);
        var date = DateOnly.FromDateTime(instant.UtcDateTime);

        Assert.All(
            new[] { ObjectLayout.BronzeObject(instant, execution), ObjectLayout.BronzeObject(instant, execution, part: 12), ObjectLayout.BronzePrefix(instant, execution) },
            name => Assert.StartsWith(prefix, name, StringComparison.Ordinal));
        Assert.All(
            new[] { ObjectLayout.SilverObject(date), ObjectLayout.SilverPartitionPrefix(date), ObjectLayout.RejectedObject(date, execution) },
            name => Assert.False(name.StartsWith(prefix, StringComparison.Ordinal), $"the rule would delete {name}"));
    }

    [Fact]
    public void TheShortestRetentionOutlivesEveryMessageTheTopologyKeeps()
    {
        // A Transform retry or redelivery re-reads the bronze objects its event names; Pub/Sub drops a message after its
        // subscription's retention at the latest, so a day past the longest one, no event still names a deleted object.
        var longest = FunctionCatalog.Topology(Settings).Subscriptions
            .Select(s => s.MessageRetention ?? SubscriptionSpec.MaxMessageRetention)
            .Append(SubscriptionSpec.MaxMessageRetention)
            .Max();

        Assert.Equal(8, DeploymentSettings.MinBronzeRetentionDays);
        Assert.True(TimeSpan.FromDays(DeploymentSettings.MinBronzeRetentionDays) >= longest + TimeSpan.FromDays(1), $"longest retention {longest}");
        Assert.Throws<ArgumentException>(() => DeploymentPlanner.Build(Settings with { BronzeRetentionDays = DeploymentSettings.MinBronzeRetentionDays - 1 }));
    }

    [Fact]
    public async Task AppliedWithAFakeGcloud_TheRulesReachItAsARealFile_RightAfterTheBronzeBucket_AndTheFileIsRemoved()
    {
        var run = await ApplyWithFakeToolsAsync(lifecycleExit: 0);

        Assert.True(run.ExitCode == 0, run.StdErr);
        var calls = run.Calls;
        var lifecycle = Assert.Single(calls, c => c.Contains(LifecycleFlag, StringComparison.Ordinal));
        Assert.StartsWith($"storage buckets update gs://{Settings.BronzeBucket} ", lifecycle, StringComparison.Ordinal);
        Assert.Equal(
            $"storage buckets update gs://{Settings.BronzeBucket} --project={Settings.ProjectId} --uniform-bucket-level-access --public-access-prevention",
            calls[calls.IndexOf(lifecycle) - 1]);
        Assert.Equal(DeploymentPlanner.BronzeLifecycleJson(30) + "\n", run.LifecycleJson);
        Assert.False(File.Exists(run.LifecyclePath), $"{run.LifecyclePath} was left behind");
        // The script went on: the silver bucket's own step (the fake's describe finds every bucket, so none is created).
        Assert.Contains(calls.Skip(calls.IndexOf(lifecycle)), c => c.StartsWith($"storage buckets update gs://{Settings.SilverBucket} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AppliedWithAFakeGcloudThatRefusesTheRules_TheScriptStopsThere_AndTheFileIsRemoved()
    {
        var run = await ApplyWithFakeToolsAsync(lifecycleExit: 5);

        Assert.Equal(5, run.ExitCode);
        Assert.Contains(LifecycleFlag, run.Calls[^1], StringComparison.Ordinal); // nothing after it ran
        Assert.False(File.Exists(run.LifecyclePath), $"{run.LifecyclePath} was left behind");
    }

    private static (int Age, string[] Prefixes, string Json) Rule(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal(["rule"], root.EnumerateObject().Select(p => p.Name));
        var rule = Assert.Single(root.GetProperty("rule").EnumerateArray().ToList());
        Assert.Equal(["action", "condition"], rule.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["type"], rule.GetProperty("action").EnumerateObject().Select(p => p.Name));
        Assert.Equal("Delete", rule.GetProperty("action").GetProperty("type").GetString());
        var condition = rule.GetProperty("condition");
        Assert.Equal(["age", "matchesPrefix"], condition.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        var prefixes = condition.GetProperty("matchesPrefix").EnumerateArray().Select(e => e.GetString()!).ToArray();
        return (condition.GetProperty("age").GetInt32(), prefixes, json);
    }

    /// <summary>
    /// Runs the whole plan (30 days) with stand-ins for gcloud and bq that log each call, print a value where the plan
    /// captures one, and, like gcloud storage, read <c>--lifecycle-file</c> through <c>realpath -e</c>: /dev/stdin fails there.
    /// </summary>
    private async Task<(int ExitCode, string StdErr, List<string> Calls, string LifecycleJson, string LifecyclePath)> ApplyWithFakeToolsAsync(int lifecycleExit)
    {
        var folder = Directory.CreateTempSubdirectory("fp-fake-gcloud-").FullName;
        try
        {
            var bin = Directory.CreateDirectory(Path.Combine(folder, "bin")).FullName;
            var log = Path.Combine(folder, "calls.log");
            const string Fake = """
                #!/usr/bin/env bash
                set -euo pipefail
                printf '%s\n' "$*" >>"${FP_FAKE_LOG}"
                for arg in "$@"; do
                  case "${arg}" in
                    --format=value\(*) echo fake-value ;;
                    --lifecycle-file=*)
                      file="${arg#--lifecycle-file=}"
                      printf '%s' "${file}" >"${FP_FAKE_LOG}.path"
                      cat "$(realpath -e "${file}")" >"${FP_FAKE_LOG}.json"
                      exit "${FP_FAKE_LIFECYCLE_EXIT}" ;;
                  esac
                done
                """;
            string[] tools = [Path.Combine(bin, "gcloud"), Path.Combine(bin, "bq")];
            foreach (var tool in tools)
            {
                await File.WriteAllTextAsync(tool, Fake.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n");
            }

            Assert.Equal(0, (await ScriptTests.RunAsync("chmod", ["u+x", .. tools])).ExitCode);

            var script = Path.Combine(folder, "plan.sh");
            await File.WriteAllTextAsync(script, DeploymentPlanner.Build(Settings with { BronzeRetentionDays = 30 }).ToBashScript());
            var run = await ScriptTests.RunAsync("bash", [script], new Dictionary<string, string>
            {
                ["PATH"] = bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH"),
                ["FP_FAKE_LOG"] = log,
                ["FP_FAKE_LIFECYCLE_EXIT"] = lifecycleExit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });

            // Every call of either stand-in, without the program name.
            var calls = (await File.ReadAllLinesAsync(log)).ToList();
            var json = File.Exists(log + ".json") ? await File.ReadAllTextAsync(log + ".json") : "";
            var given = File.Exists(log + ".path") ? await File.ReadAllTextAsync(log + ".path") : "";
            Assert.False(string.IsNullOrEmpty(given), "the fake gcloud was never given --lifecycle-file: " + run.StdErr);
            return (run.ExitCode, run.StdErr, calls, json, given);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
