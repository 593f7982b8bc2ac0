namespace FinancialPipeline.Integration.Tests;

/// <summary>Usage errors of <c>fp</c> exit 2 with one sentence, before anything is connected to.</summary>
public sealed class CliUsageTests
{
    [Theory]
    [InlineData("fp backfill: --to 2026-11-01 must be after --from 2026-11-10 (--to is exclusive)", "backfill", "--from", "2026-11-10", "--to", "2026-11-01")]
    [InlineData("fp: --window-days must be at least 1, got 0", "backfill", "--from", "2026-11-01", "--to", "2026-11-08", "--window-days", "0")]
    [InlineData("fp: --max-in-flight must be at least 1, got -2", "backfill", "--from", "2026-11-01", "--to", "2026-11-08", "--max-in-flight", "-2")]
    [InlineData("fp: --window-timeout must be at least 1, got 0", "backfill", "--from", "2026-11-01", "--to", "2026-11-08", "--window-timeout", "0")]
    [InlineData("fp: --window-days 'abc' must be a whole number", "backfill", "--from", "2026-11-16", "--to", "2026-11-19", "--window-days", "abc")]
    [InlineData("fp: --window-days '99999999999' must be at most 2147483647", "backfill", "--from", "2026-11-16", "--to", "2026-11-19", "--window-days", "99999999999")]
    [InlineData("fp: --max-in-flight 'x' must be a whole number", "backfill", "--from", "2026-11-16", "--to", "2026-11-19", "--max-in-flight", "x")]
    [InlineData("fp: --window-timeout 'x' must be a whole number of seconds", "backfill", "--from", "2026-11-16", "--to", "2026-11-19", "--window-timeout", "x")]
    [InlineData("fp: --max-instances 'abc' must be a whole number", "deploy", "plan", "--project", "my-project", "--max-instances", "abc")]
    [InlineData("fp: --max-instances must be at least 1, got 0", "deploy", "plan", "--project", "my-project", "--max-instances", "0")]
    [InlineData("fp: --max-instances '1001' must be at most 1000", "deploy", "apply", "--project", "my-project", "--max-instances", "1001")]
    [InlineData("fp: --id must be at least 1, got 0", "rejected", "--id", "0")]
    [InlineData("fp: --id must be at least 1, got -3", "rejected", "--id", "-3")]
    [InlineData("fp: --interval '99999999999' must be between 60 and 604800 seconds", "jobs", "set", "--name", "x", "--interval", "99999999999")]
    [InlineData("fp: --interval '30' must be between 60 and 604800 seconds", "jobs", "set", "--name", "x", "--interval", "30")]
    [InlineData("fp: --lookback '99999999999' must be between 1 second and 730 days", "jobs", "set", "--name", "x", "--lookback", "99999999999")]
    [InlineData("fp: --overlap '3000000000' must be between one bar and 2592000 seconds", "jobs", "set", "--name", "x", "--overlap", "3000000000")]
    [InlineData("fp: --overlap '-3000000000' must be between one bar and 2592000 seconds", "jobs", "set", "--name", "x", "--overlap", "-3000000000")]
    [InlineData("fp: --job 'BAD-NAME' must match ^[a-z][a-z0-9_]{0,63}$", "run", "--job", "BAD-NAME")]
    [InlineData("fp: --job '' must match ^[a-z][a-z0-9_]{0,63}$", "run", "--job", "")]
    [InlineData("fp: --job 'Financial_Extract' must match ^[a-z][a-z0-9_]{0,63}$", "publish", "--job", "Financial_Extract")]
    [InlineData("fp: --job 'x;drop' must match ^[a-z][a-z0-9_]{0,63}$", "backfill", "--job", "x;drop", "--from", "2026-11-01", "--to", "2026-11-02")]
    [InlineData("fp: --job 'BAD' must match ^[a-z][a-z0-9_]{0,63}$", "runs", "--job", "BAD")]
    [InlineData("fp: --execution-id 'x' is not a UUID (for example 6f0e8d7c-1111-4222-8333-944455556666)", "replay", "--execution-id", "x", "--stage", "silver")]
    [InlineData("fp: Option '--execution-id' is required.", "replay", "--stage", "silver")]
    [InlineData("fp: --from 'garbage' is not a UTC date or time (for example 2026-11-20 or 2026-11-20T13:00:00Z)", "publish", "--from", "garbage", "--to", "2026-11-21")]
    [InlineData("fp: --limit must be at least 1, got 0", "runs", "--limit", "0")]
    [InlineData("fp: --limit must be at least 1, got -1", "gold", "--limit", "-1")]
    [InlineData("fp: --limit must be at least 1, got 0", "quarantine", "--all-copies", "--limit", "0")]
    [InlineData("fp: --all-copies applies to the whole quarantine: with --execution-id every row that execution set aside is shown already", "quarantine", "--all-copies", "--execution-id", "aaaaaaaa-0000-4000-8000-000000000001")]
    [InlineData("fp: Option '--name' is required.", "jobs", "set", "--provider", "yahoo")]
    [InlineData("fp: --name 'Financial-Extract' must match ^[a-z][a-z0-9_]{0,63}$", "jobs", "set", "--name", "Financial-Extract")]
    [InlineData("fp: --limit 'abc' must be a whole number", "runs", "--limit", "abc")]
    [InlineData("fp: --limit 'x' must be a whole number", "gold", "--limit", "x")]
    [InlineData("fp: --limit '99999999999' must be at most 2147483647", "rejected", "--limit", "99999999999")]
    [InlineData("fp: --provider 'Yahoo' must be synthetic or yahoo", "jobs", "set", "--name", "j", "--provider", "Yahoo")]
    [InlineData("fp: --silver-bucket must not be empty", "jobs", "set", "--name", "j", "--silver-bucket", " ")]
    [InlineData("fp: --interval '1h' must be a whole number of seconds", "jobs", "set", "--name", "j", "--interval", "1h")]
    [InlineData("fp: --active 'no' must be true or false", "jobs", "set", "--name", "j", "--active", "no")]
    [InlineData("fp: --function 'bogus' must be extract, transform, aggregate or alert", "rejected", "--function", "bogus")]
    [InlineData("fp: --id 'abc' must be a whole number", "rejected", "--id", "abc")]
    [InlineData("fp: --by must not be empty", "replay", "--execution-id", "aaaaaaaa-0000-4000-8000-000000000001", "--stage", "bronze", "--by", "")]
    [InlineData("fp: --data-dir must not be empty", "gold", "--data-dir", "")]
    [InlineData("fp: --timeout must be at least 1, got -5", "run", "--timeout", "-5")]
    [InlineData("fp: --for must be at least 1, got 0", "up", "--for", "0")]
    [InlineData("fp: --tickers must be at least 1, got 0", "bench", "extract", "--tickers", "0")]
    [InlineData("fp: --limit must be at least 1, got 0", "bench", "extract", "--limit", "0")]
    [InlineData("fp: --latency-ms must be at least 0, got -1", "bench", "extract", "--latency-ms", "-1")]
    [InlineData("fp: --runs must be at least 1, got 0", "bench", "silver", "--runs", "0")]
    [InlineData("fp: --rows must be at least 1, got 0", "bench", "silver", "--rows", "0")]
    [InlineData("fp: --bronze-retention-days must be at least 8, got 7", "deploy", "plan", "--project", "my-project", "--bronze-retention-days", "7")]
    [InlineData("fp: --bronze-retention-days must be at least 8, got 0", "deploy", "plan", "--project", "my-project", "--bronze-retention-days", "0")]
    [InlineData("fp: --bronze-retention-days must be at least 8, got -1", "deploy", "apply", "--project", "my-project", "--bronze-retention-days", "-1")]
    [InlineData("fp: --bronze-retention-days '1.5' must be a whole number of days", "deploy", "plan", "--project", "my-project", "--bronze-retention-days", "1.5")]
    [InlineData("fp: --bronze-retention-days 'ten' must be a whole number of days", "deploy", "apply", "--project", "my-project", "--bronze-retention-days", "ten")]
    [InlineData("fp: --bronze-retention-days '36501' must be at most 36500", "deploy", "plan", "--project", "my-project", "--bronze-retention-days", "36501")]
    public async Task Usage_error_exits_2_with_the_reason_before_connecting(string firstLine, params string[] args)
    {
        // Nothing listens there: a command that connected before checking its arguments would say so instead.
        var result = await FpProcess.RunAsync(FpProcess.Unreachable, args);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(firstLine, result.Stderr.Split('\n')[0]);
        Assert.Empty(result.Stdout);
    }

    [Theory]
    // Was: "fp: Required command was not provided." first, though a command was given.
    [InlineData("fp: Unrecognized command or argument 'nosuchcmd'.\nfp --help lists the commands\n", "nosuchcmd")]
    [InlineData("fp: Required command was not provided.\nfp --help lists the commands\n")]
    [InlineData("fp: Required command was not provided.\nfp deploy --help lists the commands\n", "deploy")]
    // Was: a second line, "Unrecognized command or argument '1'", for the unknown option's value.
    [InlineData("fp: Unrecognized command or argument '--bogus'.\nfp jobs set --help lists the options\n", "jobs", "set", "--name", "x", "--bogus", "1")]
    [InlineData("fp: Unrecognized command or argument 'stray'.\nfp runs --help lists the options\n", "runs", "stray")]
    [InlineData("fp: Unrecognized command or argument 'maybe'.\nfp quarantine --help lists the options\n", "quarantine", "--all-copies", "maybe")]
    [InlineData("fp: Unrecognized command or argument 'maybe'.\nfp quarantine --help lists the options\n", "quarantine", "--all-copies=maybe")]
    public async Task A_parse_error_is_said_once_with_where_help_is(string stderr, params string[] args)
    {
        var result = await FpProcess.RunAsync(FpProcess.Unreachable, args);

        Assert.Equal((2, stderr), (result.ExitCode, result.Stderr));
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task A_missing_FP_POSTGRES_CONNECTION_is_said_as_what_the_command_needs()
    {
        // Was: "the functions need the control database", said by an operator command.
        var psi = FpProcess.StartInfo("runs");
        psi.Environment.Remove("FP_POSTGRES_CONNECTION");

        var result = await FpProcess.RunAsync(psi);

        AssertOneLine(result, 2, "fp runs: FP_POSTGRES_CONNECTION is not set: it names the control database (e.g. Host=");
    }

    [Fact]
    public async Task A_malformed_FP_WAREHOUSE_is_refused_by_fp_gold_naming_it()
    {
        // Was: anything but "bigquery" read the local DuckDB file, exit 0.
        var result = await FpProcess.RunAsync(new Dictionary<string, string> { ["FP_WAREHOUSE"] = "bogus" }, "gold");

        AssertOneLine(result, 2, "fp gold: FP_WAREHOUSE='bogus' must be one of duckdb, bigquery");
    }

    [Theory]
    [InlineData("runs", "--limit", "1")]
    [InlineData("gold")]
    public async Task An_empty_FP_DATA_DIR_is_read_as_unset(params string[] args)
    {
        // Was: Path.GetFullPath("") threw out of every command: a stack trace and exit 134.
        using var folder = new TempFolder();
        var psi = FpProcess.StartInfo(args);
        psi.WorkingDirectory = folder.Path;
        foreach (var (name, value) in FpProcess.Unreachable)
        {
            psi.Environment[name] = value;
        }

        psi.Environment["FP_DATA_DIR"] = "";

        var result = await FpProcess.RunAsync(psi);

        // Past the settings: the unreachable control database, or the default ./.fp holding no gold file.
        AssertOneLine(result, 1, args[0] == "gold" ? $"fp gold: no gold file at {Path.Combine(folder.Path, ".fp", "warehouse", "gold.duckdb")}" : "fp runs: control database: ");
    }

    [Theory]
    [InlineData(1, "fp deploy plan: --output '/nonexistent/dir/x.sh' could not be written: Could not find a part of the path", "--output", "/nonexistent/dir/x.sh")]
    // Was: exit 0, a US dataset whose external table reads a europe-west1 bucket, so every gold MERGE would fail.
    [InlineData(2, "fp deploy: --bq-location 'US' cannot query buckets in --bucket-location 'europe-west1' (--bucket-location defaults to --region;", "--region", "europe-west1")]
    // Was: the settings' property names (ProjectId, Prefix, functions[extract].SourceProject), not the options.
    [InlineData(2, "fp deploy: --project 'BAD_Project' is invalid (", "--project", "BAD_Project")]
    [InlineData(2, "fp deploy: --prefix 'Bad!' is invalid (", "--prefix", "Bad!")]
    [InlineData(2, "fp deploy: --silver-bucket: must differ from --bronze-bucket ('my-bucket')", "--bronze-bucket", "my-bucket", "--silver-bucket", "my-bucket")]
    [InlineData(2, "fp deploy: --repo-root: functions/Extract must be a folder of /tmp with one .csproj", "--repo-root", "/tmp")]
    public async Task Deploy_plan_that_cannot_be_made_fails_in_one_line(int exitCode, string start, params string[] args)
    {
        var psi = FpProcess.StartInfo(["deploy", "plan", .. args.Contains("--project") ? args : ["--project", "my-project", .. args]]);
        psi.WorkingDirectory = AppContext.BaseDirectory; // inside the clone: the plan is generated from it

        var result = await FpProcess.RunAsync(psi);

        AssertOneLine(result, exitCode, start);
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task What_no_command_expected_is_one_line_and_exit_1_not_a_stack_trace()
    {
        // A bench data directory under a regular file: nothing checks it, so the file system's exception reaches Program.
        using var folder = new TempFolder();
        var file = Path.Combine(folder.Path, "a-file");
        await File.WriteAllTextAsync(file, "not a directory");

        var result = await FpProcess.RunAsync(new Dictionary<string, string>(), "bench", "silver", "--rows", "1", "--tickers", "1", "--runs", "1", "--data-dir", Path.Combine(file, "bench"));

        AssertOneLine(result, 1, "fp bench silver: failed: DirectoryNotFoundException: Could not find a part of the path");
    }

    [Theory]
    [InlineData("run")]
    [InlineData("up")]
    [InlineData("gold")] // was: "no gold file at …/a-file/warehouse/gold.duckdb", exit 1
    [InlineData("quarantine")] // was: "no data directory at …/a-file", exit 1
    public async Task A_data_directory_that_is_a_file_is_refused_before_anything_starts(string command)
    {
        // Was: fp run started the whole stack, published, and bronze failed five times on "…/a-file/buckets" not found.
        using var folder = new TempFolder();
        var file = Path.Combine(folder.Path, "a-file");
        await File.WriteAllTextAsync(file, "not a directory");

        var result = await FpProcess.RunAsync(FpProcess.WithOwnStack(FpProcess.StartInfo(command, "--data-dir", file)));

        AssertOneLine(result, 2, $"fp {command}: --data-dir '{file}' is a file, not a directory");
    }

    [Theory]
    [InlineData("run")]
    [InlineData("up")]
    public async Task A_data_directory_another_stack_holds_is_refused_before_anything_starts(string command)
    {
        // Was: a second stack started on the same directory, and its gold failed on DuckDB's lock on gold.duckdb.
        using var folder = new TempFolder();
        using var held = new FileStream(Path.Combine(folder.Path, ".fp-lock"), FileMode.Create, FileAccess.ReadWrite, FileShare.None); // what a running stack holds

        var result = await FpProcess.RunAsync(FpProcess.WithOwnStack(FpProcess.StartInfo(command, "--data-dir", folder.Path)));

        AssertOneLine(result, 2, $"fp {command}: --data-dir '{folder.Path}' is in use by another fp up or fp run (it holds {Path.Combine(folder.Path, ".fp-lock")}); stop that one");
    }

    private static void AssertOneLine((int ExitCode, string Stdout, string Stderr) result, int exitCode, string start)
    {
        Assert.True(result.ExitCode == exitCode, $"exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        Assert.StartsWith(start, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", result.Stdout + result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("starting PostgreSQL", result.Stdout, StringComparison.Ordinal);
    }

    /// <summary>A folder under the temp folder, removed with what the test put in it.</summary>
    private sealed class TempFolder : IDisposable
    {
        private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("fp-cli-usage-");

        public string Path => _folder.FullName;

        public void Dispose() => _folder.Delete(recursive: true);
    }
}
