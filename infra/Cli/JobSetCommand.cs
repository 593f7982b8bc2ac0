using System.CommandLine;
using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Providers.Yahoo;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp jobs set</c>: creates or updates one row of <c>ingestion_job_config</c>. An update keeps what is not given; a
/// create needs the provider, the tickers and both buckets (a new job is never silently synthetic, nor writes silver
/// into its bronze bucket). The row is checked with the rules Extract applies before anything is written.
/// </summary>
internal static class JobSetCommand
{
    /// <summary>
    /// The column each option sets (a broken rule is reported by the option), whether a new job needs it, and its
    /// value on the command line (null: not given).
    /// </summary>
    private static readonly (string Column, string Option, bool RequiredOnCreate, Func<Values, object?> Given)[] Settable =
    [
        ("tickers", "--tickers", true, v => v.Tickers),
        ("provider", "--provider", true, v => v.Provider),
        ("bucket_name", "--bucket", true, v => v.Bucket),
        ("silver_bucket_name", "--silver-bucket", true, v => v.SilverBucket),
        ("interval", "--interval", false, v => v.Interval),
        ("overlap", "--overlap", false, v => v.Overlap),
        ("lookback_seconds", "--lookback", false, v => v.Lookback),
        ("bar_interval", "--bar-interval", false, v => v.BarInterval),
    ];

    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Job name (ingestion_job_config.job_name): ^[a-z][a-z0-9_]{0,63}$", Required = true }.JobName();
        var tickers = Text("--tickers", "Tickers, 1-20 of A-Z 0-9 . ^ = - each (at least one a letter or digit), separated by commas (or spaces, semicolons) (required for a new job)");
        var provider = new Option<string?>("--provider") { Description = "Market data provider (required for a new job)" }.OneOf([.. ProviderNames.All]);
        var bucket = Text("--bucket", "Bronze bucket (required for a new job)");
        var silverBucket = Text("--silver-bucket", "Silver bucket (required for a new job)");
        var interval = Seconds("--interval", "Schedule interval in seconds (new job: 3600)", JobConfig.MinIntervalSeconds, JobConfig.MaxIntervalSeconds, JobConfig.IntervalRule);
        var overlap = Seconds(
            "--overlap",
            "Seconds re-fetched before the last window's end, at least one bar (new job: three bars)",
            1, // the bar is checked with the row: it may come from the row
            JobConfig.MaxOverlapSeconds,
            string.Create(CultureInfo.InvariantCulture, $"between one bar and {JobConfig.MaxOverlapSeconds} seconds"));
        var lookback = Seconds("--lookback", "Seconds the first run looks back (new job: 604800, 7 days)", 1, JobConfig.MaxLookbackSeconds, JobConfig.LookbackRule);
        var barInterval = Text("--bar-interval", $"Bar size: {JobConfig.BarIntervals} (new job: 1h)");
        var active = new Option<string?>("--active") { Description = "true or false: an inactive job's start messages are rejected (new job: true)" }.OneOf("true", "false");
        var command = new Command("set", "Create or update one job; what is not given is kept (a new job needs --tickers, --provider, --bucket and --silver-bucket)");
        foreach (var option in new Option[] { name, tickers, provider, bucket, silverBucket, interval, overlap, lookback, barInterval, active })
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) => ExecuteAsync(
            new Values(
                parse.GetValue(name)!,
                parse.GetValue(tickers),
                parse.GetValue(provider),
                parse.GetValue(bucket),
                parse.GetValue(silverBucket),
                parse.GetValue(interval),
                parse.GetValue(overlap),
                parse.GetValue(lookback),
                parse.GetValue(barInterval),
                parse.GetValue(active) is { } on ? on == "true" : null),
            ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(Values given, CancellationToken ct)
    {
        await using var env = OperatorEnvironment.TryCreate("jobs set");
        if (env is null)
        {
            return 2;
        }

        var repository = new JobConfigRepository(env.DataSource);
        // A fresh control database (just deployed, no function started yet) gets its tables here, by the same
        // advisory-locked migrations a host applies on start; an up-to-date one costs one query.
        await new ControlDbMigrator(env.Settings.PostgresConnection, NullLogger<ControlDbMigrator>.Instance, env.DataSource).MigrateAsync(ct);
        var current = await repository.FindStoredAsync(given.Name, ct);
        if (current is null && Settable.Where(s => s.RequiredOnCreate && s.Given(given) is null).Select(s => s.Option).ToList() is { Count: > 0 } missing)
        {
            Console.Error.WriteLine(
                $"fp jobs set: job '{given.Name}' does not exist, and creating it needs --tickers, --provider, --bucket and --silver-bucket; missing: {string.Join(", ", missing)}; nothing written");
            return 2;
        }

        JobConfig job;
        try
        {
            job = given.Over(current);
        }
        catch (JobConfigException ex)
        {
            Console.Error.WriteLine($"fp jobs set: {Refusal(ex, given)}; nothing written");
            return 2;
        }

        var written = AsStored(job, current);
        if (written == current)
        {
            Console.WriteLine($"job '{job.JobName}' already has these values; nothing written");
            WriteWhole(current, job);
            return 0;
        }

        await repository.UpsertAsync(job, UpdatedBy(), ct);
        var stored = await repository.FindStoredAsync(job.JobName, ct)
            ?? throw new InvalidOperationException($"job '{job.JobName}' was written but is gone: something deleted it at once");
        if (current is null)
        {
            Console.WriteLine($"created job '{job.JobName}'");
        }
        else
        {
            var changes = Fields(current).Zip(Fields(written), (before, after) => (before.Label, Before: before.Value, After: after.Value))
                .Where(f => f.Before != f.After)
                .Select(f => $"  {f.Label}: {f.Before} → {f.After}");
            Console.WriteLine($"updated job '{job.JobName}':");
            Console.WriteLine(string.Join(Environment.NewLine, changes));
        }

        WriteWhole(stored, job);
        if (RunLengthWarning(job, env.Settings) is { } warning)
        {
            Console.Error.WriteLine(warning);
        }

        foreach (var shared in SharedTickerWarnings(job, await repository.ListStoredAsync(ct)))
        {
            Console.Error.WriteLine(shared);
        }

        return 0;
    }

    /// <summary>
    /// A ticker in two jobs is one series in gold, so both must write it to the same silver bucket at the same bar
    /// interval: otherwise each job's MERGE replaces (and deletes) the other's hours, or two bar sizes mix in one hour.
    /// Said for every other active job the written (active) job shares a ticker with; a row that breaks a rule is
    /// skipped (<c>fp jobs</c> lists it as broken, and Extract runs nothing for it).
    /// </summary>
    internal static IEnumerable<string> SharedTickerWarnings(JobConfig job, IEnumerable<StoredJobConfig> stored)
    {
        if (!job.Active)
        {
            yield break;
        }

        foreach (var other in stored.Where(r => r.Active && r.JobName != job.JobName).Select(r => JobsCommand.Check(r).Config).OfType<JobConfig>())
        {
            var shared = job.Tickers.Intersect(other.Tickers, StringComparer.Ordinal).ToList();
            if (shared.Count > 0 && (other.SilverBucketName != job.SilverBucketName || other.BarInterval != job.BarInterval))
            {
                yield return $"fp jobs set: warning: job '{job.JobName}' shares tickers {JobsCommand.TickerPreview(shared, 5)} with job '{other.JobName}', "
                    + $"which writes them to silver bucket '{other.SilverBucketName}' at bar interval {other.BarInterval} (this job: '{job.SilverBucketName}', {job.BarInterval}); "
                    + "gold holds one series per ticker, and the two jobs would overwrite each other's hours: give them the same silver bucket and bar interval, or different tickers";
            }
        }
    }

    /// <summary>
    /// A Yahoo run sends at least one request per ticker (an incremental window is hours, within one request's span),
    /// at the rate one Extract instance keeps to; a job whose requests alone take most of the push deadline cannot finish
    /// a run, and would fail every hour. The job is written anyway: the rate is the functions' setting, which this
    /// environment may not share.
    /// </summary>
    internal static string? RunLengthWarning(JobConfig job, PipelineSettings settings)
    {
        if (job.Provider != ProviderNames.Yahoo)
        {
            return null;
        }

        var rate = settings.YahooRequestsPerSecond ?? new YahooOptions().RequestsPerSecond;
        var seconds = job.Tickers.Count / rate;
        var budget = 0.8 * TopologySettings.DefaultAckDeadlineSeconds;
        return seconds <= budget
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"fp jobs set: warning: job '{job.JobName}' has {job.Tickers.Count} Yahoo tickers: one run sends at least {job.Tickers.Count} requests, {seconds:F0} s at FP_YAHOO_REQUESTS_PER_SECOND={rate}, and a run must finish within the {TopologySettings.DefaultAckDeadlineSeconds} s push deadline ({budget:F0} s leaves room for retries and the write); split the tickers across jobs, or raise the functions' rate if Yahoo allows it");
    }

    /// <summary>The broken rule, named by the option that sets the column; a value kept from the row says so.</summary>
    private static string Refusal(JobConfigException ex, Values given)
    {
        var value = JobsCommand.Printable(ex.Value, 80);
        var setting = Settable.FirstOrDefault(s => s.Column == ex.Column);
        if (setting.Option is null)
        {
            return ex.Message; // a column no option sets (none today)
        }

        return setting.Given(given) is not null
            ? $"{setting.Option} '{value}' {ex.Reason}"
            : $"{setting.Option}: the row's {ex.Column} '{value}', kept because {setting.Option} was not given, {ex.Reason}";
    }

    /// <summary>The row as <see cref="JobConfigRepository.UpsertAsync"/> writes <paramref name="job"/>, who and when kept from <paramref name="current"/>.</summary>
    private static StoredJobConfig AsStored(JobConfig job, StoredJobConfig? current) => new(
        job.JobName,
        string.Join(',', job.Tickers),
        job.IntervalSeconds,
        job.OverlapSeconds,
        job.BucketName,
        job.SilverBucketName,
        job.Provider,
        job.BarInterval,
        job.LookbackSeconds,
        job.Active,
        current?.UpdatedBy ?? string.Empty,
        current?.UpdatedAt ?? default);

    /// <summary>The columns an operator sets, as shown; what an update changed is where two of these differ.</summary>
    private static (string Label, string Value)[] Fields(StoredJobConfig row) =>
    [
        ("active", row.Active ? "true" : "false"),
        ("provider", JobsCommand.Printable(row.Provider, 64)),
        ("bar interval", JobsCommand.Printable(row.BarInterval, 64)),
        ("interval", SecondsText(row.Interval)),
        ("overlap", SecondsText(row.Overlap)),
        ("lookback", SecondsText(row.LookbackSeconds)),
        ("bronze bucket", JobsCommand.Printable(row.BucketName, 64)),
        ("silver bucket", row.SilverBucketName is null ? "- (NULL: the bronze bucket)" : JobsCommand.Printable(row.SilverBucketName, 64)),
        ("tickers", JobsCommand.Printable(row.Tickers, int.MaxValue)),
    ];

    /// <summary>Seconds as the options take them, with the span they make when it is whole minutes: "10800 (3h)".</summary>
    private static string SecondsText(int? seconds) => seconds switch
    {
        null => "-",
        { } s when s > 0 && s % 60 == 0 => string.Create(CultureInfo.InvariantCulture, $"{s} ({JobsCommand.Span(s)})"),
        { } s => s.ToString(CultureInfo.InvariantCulture),
    };

    private static void WriteWhole(StoredJobConfig row, JobConfig job)
    {
        Console.WriteLine($"{"job:",-15}{row.JobName}");
        foreach (var (label, value) in Fields(row))
        {
            var shown = label == "tickers" ? string.Create(CultureInfo.InvariantCulture, $"{job.Tickers.Count}: {value}") : value;
            Console.WriteLine($"{label + ":",-15}{shown}");
        }

        Console.WriteLine($"{"updated:",-15}{row.UpdatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC by {JobsCommand.Printable(row.UpdatedBy, 64)}");
    }

    /// <summary>updated_by: the command and the OS user who ran it (the column holds 64 characters).</summary>
    private static string UpdatedBy()
    {
        var by = $"fp jobs set ({Environment.UserName})";
        return by.Length <= 64 ? by : by[..63] + ")";
    }

    /// <summary>A text option that must not be blank: an empty --silver-bucket would mean "the bronze bucket" to JobConfig.</summary>
    private static Option<string?> Text(string name, string description) => new Option<string?>(name) { Description = description }.NotBlank();

    /// <summary>
    /// A whole number of seconds, refused with a sentence naming the option rather than System.CommandLine's type name,
    /// and outside JobConfig's bounds with its rule (not the type's range: 99999999999 is refused as the rule says).
    /// </summary>
    private static Option<int?> Seconds(string name, string description, int min, int max, string rule) =>
        CheckedOptions.OptionalWholeNumber(name, description, min, "a whole number of seconds", max, rule);

    /// <summary>What the command line gives; null is "not given".</summary>
    private sealed record Values(
        string Name, string? Tickers, string? Provider, string? Bucket, string? SilverBucket, int? Interval, int? Overlap, int? Lookback, string? BarInterval, bool? Active)
    {
        /// <summary>
        /// The row to write: what is given over <paramref name="current"/> (null for a new job, whose missing values take
        /// JobConfig's defaults), under the rules Extract applies.
        /// </summary>
        /// <exception cref="JobConfigException">The row would break a rule.</exception>
        public JobConfig Over(StoredJobConfig? current) => JobConfig.Create(
            Name,
            Tickers ?? current?.Tickers ?? string.Empty,
            Interval ?? current?.Interval,
            Overlap ?? current?.Overlap,
            Bucket ?? current?.BucketName ?? string.Empty,
            SilverBucket ?? current?.SilverBucketName,
            Provider ?? current?.Provider,
            BarInterval ?? current?.BarInterval,
            Lookback ?? current?.LookbackSeconds,
            Active ?? current?.Active ?? true);
    }
}
