using FinancialPipeline.ControlDb;
using FinancialPipeline.PubSub;
using Npgsql;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <c>fp jobs</c> and <c>fp jobs set</c> as an operator runs them: a child process given only the environment, against
/// the real control database; what was written is read back through <see cref="JobConfigRepository"/>.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class JobsCommandTests(StackFixture stack)
{
    private readonly JobConfigRepository _jobs = new(stack.DataSource);

    [Fact]
    public async Task List_ShowsEveryRow_ABrokenOneMarkedWithItsRule_ANullSilverBucketSaid()
    {
        var valid = await stack.CreateJobAsync(tickers: "AAPL,MSFT,NVDA,AMZN,META,TSLA,JPM");
        var broken = await stack.CreateBrokenJobAsync();
        var noSilver = await stack.CreateJobAsync();
        await ExecuteAsync("UPDATE ingestion_job_config SET silver_bucket_name = NULL WHERE job_name = @job", noSilver.JobName);
        // A provider typo and a blank provider: broken rows, never a dead letter or synthetic data in real buckets.
        var typo = await stack.CreateJobAsync();
        await ExecuteAsync("UPDATE ingestion_job_config SET provider = 'yahooo' WHERE job_name = @job", typo.JobName);
        var blank = await stack.CreateJobAsync();
        await ExecuteAsync("UPDATE ingestion_job_config SET provider = '' WHERE job_name = @job", blank.JobName);

        var list = await FpProcess.RunAsync(Env(), "jobs");

        Assert.Equal(0, list.ExitCode);
        var validLine = Line(list.Stdout, valid.JobName);
        Assert.Contains("│ active ", validLine, StringComparison.Ordinal);
        Assert.Contains("│ synthetic ", validLine, StringComparison.Ordinal);
        Assert.Matches("│ 1h +│ 1h +│ 3h +│ 5d +│", validLine); // bar, interval, overlap, lookback
        Assert.Contains($"│ {valid.BucketName} ", validLine, StringComparison.Ordinal);
        Assert.Contains($"│ {valid.SilverBucketName} ", validLine, StringComparison.Ordinal);
        Assert.Contains("│ 7: AAPL,MSFT,NVDA,AMZN,META … +2 ", validLine, StringComparison.Ordinal);
        Assert.Contains("│ tests ", validLine, StringComparison.Ordinal);
        Assert.Contains("│ BROKEN ", Line(list.Stdout, broken), StringComparison.Ordinal);
        Assert.Contains(
            $"broken: job '{broken}': bucket_name='Not A Bucket' is not a valid bucket name: it may hold only a-z, 0-9, '-', '_' and '.'; Extract fails on every delivery",
            list.Stdout,
            StringComparison.Ordinal);
        Assert.Contains("│ BROKEN ", Line(list.Stdout, typo.JobName), StringComparison.Ordinal);
        Assert.Contains($"broken: job '{typo.JobName}': provider='yahooo' is not a provider: one of synthetic, yahoo", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("│ BROKEN ", Line(list.Stdout, blank.JobName), StringComparison.Ordinal);
        Assert.Contains($"broken: job '{blank.JobName}': provider='' is required: one of synthetic, yahoo", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("│ - (bronze's) ", Line(list.Stdout, noSilver.JobName), StringComparison.Ordinal);
        Assert.Contains("silver_bucket_name is NULL, so silver is written to the bronze bucket", list.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Set_CreatesAJobThatPublishAccepts_AndActiveFalseMakesPublishRefuseIt()
    {
        var prefix = StackFixture.UniqueName("j") + "-";
        var pubsub = PubSubRestClient.Create(new PubSubOptions { ProjectId = "local-project", EmulatorHost = stack.Infrastructure.EmulatorHost });
        await pubsub.EnsureTopicAsync(new StageTopics(prefix).Start);
        var env = Env(prefix);
        var name = StackFixture.UniqueName("job_");
        Assert.Equal(2, (await FpProcess.RunAsync(env, "publish", "--job", name)).ExitCode);

        var created = await FpProcess.RunAsync(env, "jobs", "set", "--name", name, "--provider", "yahoo", "--tickers", "zzqa, zzqb", "--bucket", "b-" + name.Replace('_', '-'), "--silver-bucket", "s-" + name.Replace('_', '-'));

        Assert.Equal((0, string.Empty), (created.ExitCode, created.Stderr));
        Assert.Contains($"created job '{name}'", created.Stdout, StringComparison.Ordinal);
        Assert.Contains("tickers:       2: ZZQA,ZZQB", created.Stdout, StringComparison.Ordinal);
        var job = await _jobs.FindAsync(name, CancellationToken.None);
        Assert.NotNull(job);
        Assert.Equal(
            ("yahoo", "ZZQA,ZZQB", 3600, 10800, 604800, "1h", true, "b-" + name.Replace('_', '-'), "s-" + name.Replace('_', '-')),
            (job.Provider, string.Join(',', job.Tickers), job.IntervalSeconds, job.OverlapSeconds, job.LookbackSeconds, job.BarInterval, job.Active, job.BucketName, job.SilverBucketName));
        Assert.StartsWith($"fp jobs set ({Environment.UserName}", (await _jobs.FindStoredAsync(name, CancellationToken.None))!.UpdatedBy, StringComparison.Ordinal);

        var published = await FpProcess.RunAsync(env, "publish", "--job", name);
        Assert.Equal(0, published.ExitCode);
        Assert.Contains($"of {name} to ", published.Stdout, StringComparison.Ordinal);

        var deactivated = await FpProcess.RunAsync(env, "jobs", "set", "--name", name, "--active", "false");
        Assert.Equal(0, deactivated.ExitCode);
        Assert.Contains("  active: true → false", deactivated.Stdout, StringComparison.Ordinal);
        var refused = await FpProcess.RunAsync(env, "publish", "--job", name);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"job '{name}' is inactive", refused.Stderr, StringComparison.Ordinal);
        await pubsub.DeleteTopicAsync(new StageTopics(prefix).Start);
    }

    [Fact]
    public async Task Set_WarnsWhenAYahooJobsRequestsAloneWouldOutlastTheRunsDeadline_AndStillWritesIt()
    {
        var name = StackFixture.UniqueName("job_");
        var buckets = new[] { "--bucket", "b-" + name.Replace('_', '-'), "--silver-bucket", "s-" + name.Replace('_', '-') };
        var env = new Dictionary<string, string>(Env()) { ["FP_YAHOO_REQUESTS_PER_SECOND"] = "2" };
        var tickers = string.Join(",", Enumerable.Range(0, 1000).Select(i => "ZZT" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))); // no other job has them

        var fits = await FpProcess.RunAsync(env, ["jobs", "set", "--name", name, "--provider", "yahoo", "--tickers", "ZZRA,ZZRB", .. buckets]);
        var tooMany = await FpProcess.RunAsync(env, "jobs", "set", "--name", name, "--tickers", tickers);
        var synthetic = await FpProcess.RunAsync(env, "jobs", "set", "--name", name, "--provider", "synthetic");

        Assert.Equal((0, string.Empty), (fits.ExitCode, fits.Stderr));
        Assert.Equal(0, tooMany.ExitCode);
        Assert.Equal(
            $"fp jobs set: warning: job '{name}' has 1000 Yahoo tickers: one run sends at least 1000 requests, 500 s at FP_YAHOO_REQUESTS_PER_SECOND=2, and a run must finish within the 600 s push deadline (480 s leaves room for retries and the write); split the tickers across jobs, or raise the functions' rate if Yahoo allows it",
            tooMany.Stderr.TrimEnd('\n'));
        Assert.Equal(1000, (await _jobs.FindAsync(name, CancellationToken.None))!.Tickers.Count);
        Assert.Equal((0, string.Empty), (synthetic.ExitCode, synthetic.Stderr)); // the synthetic provider has no rate
    }

    [Fact]
    public async Task Set_WarnsWhenAnotherActiveJobWritesASharedTickerToAnotherSilverBucketOrBarSize()
    {
        var ticker = StackFixture.UniqueName("Z").ToUpperInvariant()[..10]; // a ticker no other test's job has
        var first = await stack.CreateJobAsync(tickers: "AAPL," + ticker);
        var name = StackFixture.UniqueName("job_");
        var create = new[] { "jobs", "set", "--name", name, "--provider", "synthetic", "--tickers", ticker + ",MSFTQ", "--bucket", first.BucketName };

        var sameSilver = await FpProcess.RunAsync(Env(), [.. create, "--silver-bucket", first.SilverBucketName]);
        var otherSilver = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", name, "--silver-bucket", "other-" + first.SilverBucketName);
        var otherBar = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", name, "--silver-bucket", first.SilverBucketName, "--bar-interval", "1d", "--interval", "86400", "--overlap", "259200");
        await ExecuteAsync("UPDATE ingestion_job_config SET active = false WHERE job_name = @job", first.JobName);
        var firstInactive = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", name, "--silver-bucket", "third-" + first.SilverBucketName);

        Assert.Equal((0, string.Empty), (sameSilver.ExitCode, sameSilver.Stderr));
        Assert.Equal(0, otherSilver.ExitCode);
        Assert.Equal(
            $"fp jobs set: warning: job '{name}' shares tickers 1: {ticker} with job '{first.JobName}', which writes them to silver bucket '{first.SilverBucketName}' at bar interval 1h (this job: 'other-{first.SilverBucketName}', 1h); gold holds one series per ticker, and the two jobs would overwrite each other's hours: give them the same silver bucket and bar interval, or different tickers",
            otherSilver.Stderr.TrimEnd('\n'));
        Assert.Equal(0, otherBar.ExitCode);
        Assert.Contains($"at bar interval 1h (this job: '{first.SilverBucketName}', 1d)", otherBar.Stderr, StringComparison.Ordinal);
        Assert.Equal((0, string.Empty), (firstInactive.ExitCode, firstInactive.Stderr));
    }

    [Fact]
    public async Task Set_CreatingWithoutProviderOrSilverBucket_Exits2_AndWritesNothing()
    {
        var name = StackFixture.UniqueName("job_");

        var noProvider = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", name, "--tickers", "AAPL", "--bucket", "bronze-x", "--silver-bucket", "silver-x");
        var noSilver = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", name, "--tickers", "AAPL", "--bucket", "bronze-x", "--provider", "yahoo");

        Assert.Equal(2, noProvider.ExitCode);
        Assert.Contains($"fp jobs set: job '{name}' does not exist", noProvider.Stderr, StringComparison.Ordinal);
        Assert.Contains("missing: --provider; nothing written", noProvider.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, noSilver.ExitCode);
        Assert.Contains("missing: --silver-bucket; nothing written", noSilver.Stderr, StringComparison.Ordinal);
        Assert.Null(await _jobs.FindStoredAsync(name, CancellationToken.None));
    }

    [Theory]
    [InlineData("--tickers", "AAPL,MSFT$", "--tickers 'MSFT$' each ticker must be 1-20 of A-Z 0-9 . ^ = -")]
    [InlineData("--tickers", "..,AAPL", "--tickers '..' each ticker must be 1-20 of A-Z 0-9 . ^ = -, at least one of them a letter or digit")]
    [InlineData("--bucket", "Not A Bucket", "--bucket 'Not A Bucket' is not a valid bucket name")]
    [InlineData("--silver-bucket", "goog-silver", "--silver-bucket 'goog-silver' is not a valid bucket name: it must not start with 'goog'")]
    [InlineData("--overlap", "60", "--overlap '60' must be between one bar (3600 s for 1h)")]
    [InlineData("--bar-interval", "1w", "--bar-interval '1w' is not one of 1m 2m 5m 15m 30m 60m 90m 1h 1d")]
    public async Task Set_BreakingARule_Exits2NamingTheOption_AndLeavesTheRowUnchanged(string option, string value, string reason)
    {
        var job = await stack.CreateJobAsync();
        var before = await _jobs.FindStoredAsync(job.JobName, CancellationToken.None);

        var result = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", job.JobName, option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("fp jobs set: ", result.Stderr, StringComparison.Ordinal);
        Assert.Contains(reason, result.Stderr, StringComparison.Ordinal);
        Assert.EndsWith("; nothing written", result.Stderr.TrimEnd(), StringComparison.Ordinal);
        Assert.Empty(result.Stdout);
        Assert.Equal(before, await _jobs.FindStoredAsync(job.JobName, CancellationToken.None));
    }

    [Fact]
    public async Task Set_OnABrokenRow_NamesTheValueItKept_AndGivingTheOptionRepairsIt()
    {
        var job = await stack.CreateBrokenJobAsync();
        var before = await _jobs.FindStoredAsync(job, CancellationToken.None);

        var kept = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", job, "--tickers", "AAPL");
        Assert.Equal(2, kept.ExitCode);
        Assert.Contains("fp jobs set: --bucket: the row's bucket_name 'Not A Bucket', kept because --bucket was not given, is not a valid bucket name", kept.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, await _jobs.FindStoredAsync(job, CancellationToken.None));

        var repaired = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", job, "--bucket", "bronze-repaired");
        Assert.Equal(0, repaired.ExitCode);
        Assert.Contains("  bronze bucket: Not A Bucket → bronze-repaired", repaired.Stdout, StringComparison.Ordinal);
        Assert.Equal("bronze-repaired", (await _jobs.FindAsync(job, CancellationToken.None))!.BucketName);
    }

    [Fact]
    public async Task Set_Update_ChangesWhatIsGiven_KeepsTheRest_AndSaysWhatChanged()
    {
        var job = await stack.CreateJobAsync();
        var before = (await _jobs.FindStoredAsync(job.JobName, CancellationToken.None))!;

        var result = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", job.JobName, "--tickers", "NVDA,AAPL", "--overlap", "7200");

        Assert.Equal(0, result.ExitCode);
        var changes = result.Stdout.Split('\n').SkipWhile(l => !l.StartsWith("updated job", StringComparison.Ordinal)).Skip(1).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal));
        Assert.Equal(["  overlap: 10800 (3h) → 7200 (2h)", "  tickers: AAPL,MSFT,NVDA → NVDA,AAPL"], changes);
        var after = (await _jobs.FindStoredAsync(job.JobName, CancellationToken.None))!;
        Assert.Equal(
            before with { Tickers = "NVDA,AAPL", Overlap = 7200, UpdatedBy = after.UpdatedBy, UpdatedAt = after.UpdatedAt },
            after);
        Assert.StartsWith("fp jobs set (", after.UpdatedBy, StringComparison.Ordinal);

        var again = await FpProcess.RunAsync(Env(), "jobs", "set", "--name", job.JobName, "--tickers", "nvda,aapl");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains($"job '{job.JobName}' already has these values; nothing written", again.Stdout, StringComparison.Ordinal);
        Assert.Equal(after, await _jobs.FindStoredAsync(job.JobName, CancellationToken.None));
    }

    [Fact]
    public async Task InsertWithoutProvider_FailsInsteadOfBecomingSynthetic()
    {
        var name = StackFixture.UniqueName("job_");

        var ex = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(
            "INSERT INTO ingestion_job_config (job_name, tickers, bucket_name, silver_bucket_name, updated_by) VALUES (@job, 'AAPL', 'b-x', 's-x', 'psql')",
            name));

        Assert.Equal(PostgresErrorCodes.NotNullViolation, ex.SqlState);
        Assert.Equal("provider", ex.ColumnName);
    }

    [Fact]
    public async Task Set_OnAFreshDatabase_CreatesTheTablesFirst_AsAJustDeployedProjectNeeds()
    {
        await using var database = await stack.CreateDatabaseAsync("fp_fresh_");
        var env = Env();
        env["FP_POSTGRES_CONNECTION"] = database.ConnectionString;
        var before = await FpProcess.RunAsync(env, "jobs");
        Assert.Equal(1, before.ExitCode);
        Assert.Contains("the control database has no tables yet; `fp jobs set` creates them", before.Stderr, StringComparison.Ordinal);

        var set = await FpProcess.RunAsync(env, "jobs", "set", "--name", "financial_extract", "--provider", "yahoo", "--tickers", "AAPL", "--bucket", "p-fp-bronze", "--silver-bucket", "p-fp-silver");

        Assert.Equal((0, string.Empty), (set.ExitCode, set.Stderr));
        var after = await FpProcess.RunAsync(env, "jobs");
        Assert.Contains("│ yahoo ", Line(after.Stdout, "financial_extract"), StringComparison.Ordinal);
    }

    private Dictionary<string, string> Env(string topicPrefix = "fp-") => stack.OperatorVariables(topicPrefix);

    private static string Line(string table, string jobName) =>
        table.Split('\n').Single(l => l.StartsWith($"│ {jobName} ", StringComparison.Ordinal));

    private async Task ExecuteAsync(string sql, string jobName)
    {
        await using var cmd = stack.DataSource.CreateCommand(sql);
        cmd.Parameters.AddWithValue("job", jobName);
        await cmd.ExecuteNonQueryAsync();
    }
}
