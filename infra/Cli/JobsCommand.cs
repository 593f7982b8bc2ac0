using System.CommandLine;
using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp jobs</c>: every row of <c>ingestion_job_config</c>, a row that breaks a rule listed as broken with the rule,
/// never hidden; <c>fp jobs set</c> (<see cref="JobSetCommand"/>) creates or updates one.
/// </summary>
internal static class JobsCommand
{
    private const int TickersShown = 5;

    public static Command Create()
    {
        var command = new Command("jobs", "The jobs of ingestion_job_config, each with its configuration; a row breaking a rule is marked broken");
        command.Subcommands.Add(JobSetCommand.Create());
        command.SetAction((_, ct) => ExecuteAsync(ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(CancellationToken ct)
    {
        await using var env = OperatorEnvironment.TryCreate("jobs");
        if (env is null)
        {
            return 2;
        }

        var rows = await new JobConfigRepository(env.DataSource).ListStoredAsync(ct);

        if (rows.Count == 0)
        {
            Console.WriteLine("no jobs in ingestion_job_config: Extract rejects every start message as an unknown job");
            Console.WriteLine("fp jobs set --name NAME --provider yahoo --tickers A,B --bucket BRONZE --silver-bucket SILVER creates one");
            return 0;
        }

        var table = new Table();
        table.AddColumns("job", "status", "provider", "bar", "interval", "overlap", "lookback", "bronze bucket", "silver bucket", "tickers", "updated (UTC)", "by");
        var broken = new List<string>();
        foreach (var row in rows)
        {
            var (config, problem) = Check(row);
            if (problem is not null)
            {
                broken.Add(problem);
            }

            table.AddRow(
                Cell(row.JobName),
                problem is not null ? "[red]BROKEN[/]" : row.Active ? "active" : "[yellow]inactive[/]",
                Cell(row.Provider),
                Cell(row.BarInterval),
                Span(row.Interval),
                Span(row.Overlap),
                Span(row.LookbackSeconds),
                Cell(row.BucketName),
                row.SilverBucketName is null ? "[yellow]- (bronze's)[/]" : Cell(row.SilverBucketName),
                Markup.Escape(config is null ? Printable(row.Tickers, 32) : TickerPreview(config.Tickers, TickersShown)),
                row.UpdatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                Cell(row.UpdatedBy));
        }

        AnsiConsole.Write(table);
        foreach (var problem in broken)
        {
            // Whole and unwrapped: the rule is what the operator has to fix.
            Console.WriteLine($"broken: {Printable(problem, int.MaxValue)}; Extract fails on every delivery of this job until the row is fixed (fp jobs set)");
        }

        if (rows.Any(r => r.SilverBucketName is null))
        {
            AnsiConsole.MarkupLine("[grey]silver bucket \"- (bronze's)\": silver_bucket_name is NULL, so silver is written to the bronze bucket; fp jobs set --silver-bucket sets it[/]");
        }

        return 0;
    }

    /// <summary>The row under Extract's rules: its config, or the rule it breaks.</summary>
    public static (JobConfig? Config, string? Problem) Check(StoredJobConfig row)
    {
        try
        {
            return (row.Validate(), null);
        }
        catch (JobConfigException ex)
        {
            return (null, ex.Message);
        }
    }

    /// <summary>"10: AAPL,MSFT,GOOGL … +7" — the count, then the first <paramref name="shown"/> tickers.</summary>
    public static string TickerPreview(IReadOnlyList<string> tickers, int shown) =>
        string.Create(CultureInfo.InvariantCulture, $"{tickers.Count}: {string.Join(',', tickers.Take(shown))}")
        + (tickers.Count > shown ? string.Create(CultureInfo.InvariantCulture, $" … +{tickers.Count - shown}") : string.Empty);

    /// <summary>Seconds in the largest unit that divides them: "3h", "7d", "90m", "45s".</summary>
    public static string Span(int? seconds) => seconds switch
    {
        null => "-",
        { } s when s > 0 && s % 86400 == 0 => string.Create(CultureInfo.InvariantCulture, $"{s / 86400}d"),
        { } s when s > 0 && s % 3600 == 0 => string.Create(CultureInfo.InvariantCulture, $"{s / 3600}h"),
        { } s when s > 0 && s % 60 == 0 => string.Create(CultureInfo.InvariantCulture, $"{s / 60}m"),
        { } s => string.Create(CultureInfo.InvariantCulture, $"{s}s"),
    };

    /// <summary>A value someone wrote into the table (psql included): control characters escaped, cut at <paramref name="maxChars"/>.</summary>
    public static string Printable(string? value, int maxChars) => value is null ? "-" : PayloadText.Printable(value, maxChars, keepLineBreaks: false);

    private static string Cell(string? value) => Markup.Escape(Printable(value, 64));
}
