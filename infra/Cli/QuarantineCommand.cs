using System.CommandLine;
using System.Globalization;
using DuckDB.NET.Data;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Warehouse;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp quarantine</c>: the bars Transform set aside in the local silver buckets, with the rule each broke and why,
/// read from the Parquet files without a DuckDB client. By default one row per bar still quarantined (its latest
/// rejection; a bar a later fetch got into silver is not one), the view <c>financial_quotes_rejected_current</c>;
/// <c>--all-copies</c> shows every row kept, one per execution that set a bar aside, and <c>--execution-id</c> one
/// execution's rows. In the cloud, query the BigQuery view and external table instead.
/// </summary>
internal static class QuarantineCommand
{
    public static Command Create()
    {
        var dataDir = LocalStack.DataDirectoryOption();
        var bucket = new Option<string?>("--bucket") { Description = "Only this silver bucket (default: every local bucket holding a quarantine)" };
        var executionId = ExecutionIdOption.Create("Only the rows this execution set aside");
        var limit = LimitOption.Create("Rows to show per bucket, newest bar first");
        var allCopies = new Option<bool>("--all-copies")
        {
            Description = "Every row kept, one per execution that set a bar aside (default: one row per bar still quarantined, its latest rejection)",
        };
        var command = new Command("quarantine", "Bars Transform quarantined in the local silver buckets, with the rule and reason");
        command.Options.Add(dataDir);
        command.Options.Add(bucket);
        command.Options.Add(executionId);
        command.Options.Add(allCopies);
        command.Options.Add(limit);
        command.Validators.Add(result =>
        {
            // Said rather than ignored: one execution's rows are its audit trail, every one of them already.
            if (result.GetValue(allCopies) && result.GetResult(executionId) is { Implicit: false })
            {
                result.AddError("--all-copies applies to the whole quarantine: with --execution-id every row that execution set aside is shown already");
            }
        });
        command.SetAction((parse, ct) => ExecuteAsync(parse.GetValue(dataDir)!, parse.GetValue(bucket), parse.GetValue(executionId), parse.GetValue(allCopies), parse.GetValue(limit), ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(string dataDirectory, string? bucket, Guid? executionId, bool allCopies, int limit, CancellationToken ct)
    {
        if (bucket is not null && BucketNames.Problem(bucket) is { } problem)
        {
            Console.Error.WriteLine($"fp quarantine: --bucket '{bucket}' {problem}");
            return 2;
        }

        if (DataDirectoryLock.IsAFile("quarantine", dataDirectory))
        {
            return 2;
        }

        var buckets = Path.Combine(Path.GetFullPath(dataDirectory), "buckets");
        List<string> roots = bucket is not null
            ? [Path.Combine(buckets, bucket)]
            : Directory.Exists(buckets) ? Directory.EnumerateDirectories(buckets).Where(HoldsSilver).Order(StringComparer.Ordinal).ToList() : [];
        if (NothingToRead(dataDirectory, buckets, bucket, roots) is { } nothing)
        {
            // "Every row passed" would be false reassurance: there is no silver data to have passed.
            Console.Error.WriteLine($"fp quarantine: {nothing}");
            return 1;
        }

        var shown = 0;
        try
        {
            foreach (var root in roots)
            {
                if (await DuckDbQuarantineReader.ReadAsync(root, executionId, allCopies, limit, ct) is not { } found || found.Copies == 0)
                {
                    continue;
                }

                shown++;
                Write(root, found, allCopies);
            }
        }
        catch (DuckDBException ex)
        {
            Console.Error.WriteLine($"fp quarantine: {ex.Message}");
            return 1;
        }

        if (shown == 0)
        {
            var under = bucket is null ? buckets : roots[0];
            // This command reads files only: for one execution it cannot tell "all its rows passed" from "it never
            // ran Transform here", so it says both and where to look.
            Console.WriteLine(executionId is { } id
                ? $"no quarantined rows set aside by {id:D} under {under}: every row of it passed the silver rules, or its Transform did not run against these buckets (fp runs --execution-id {id:D} says which)"
                : $"no quarantined rows under {under}: every row passed the silver rules");
        }

        return 0;
    }

    /// <summary>Why there is no silver data to read at all (Transform never wrote there), or null when there is.</summary>
    private static string? NothingToRead(string dataDirectory, string buckets, string? bucket, List<string> roots)
    {
        const string where = "fp run --data-dir, or FP_DATA_DIR, names the data directory";
        if (!Directory.Exists(dataDirectory))
        {
            return $"no data directory at {Path.GetFullPath(dataDirectory)} ({where})";
        }

        if (bucket is null)
        {
            return roots.Count == 0 ? $"no silver data under {buckets}: no Transform run has written silver there yet ({where})" : null;
        }

        return !Directory.Exists(roots[0]) ? $"no bucket '{bucket}' under {buckets}"
            : !HoldsSilver(roots[0]) ? $"bucket '{bucket}' holds no silver data: no Transform run has written to it (is it a bronze bucket?)"
            : null;
    }

    /// <summary>
    /// Whether Transform has written to the bucket: silver partitions (<c>financial_quotes/date=…</c>; bronze's are
    /// <c>ingest_date=…</c>, and a job without a silver bucket shares one) or a quarantine.
    /// </summary>
    private static bool HoldsSilver(string bucketRoot)
    {
        var silver = Path.Combine(bucketRoot, ObjectLayout.Dataset);
        return Directory.Exists(Path.Combine(bucketRoot, ObjectLayout.RejectedDataset))
            || (Directory.Exists(silver) && Directory.EnumerateDirectories(silver, "date=*").Any());
    }

    private static void Write(string root, QuarantineRead found, bool allCopies)
    {
        var rules = string.Join(", ", found.ByRule.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Rule} {r.Rows}")));
        Console.WriteLine($"{Path.Combine(root, ObjectLayout.RejectedDataset)}: {Summary(found, allCopies)}{(rules.Length == 0 ? string.Empty : " — " + rules)}");
        if (found.Newest.Count == 0)
        {
            return;
        }

        var table = new Table();
        table.AddColumns("bar (UTC)", "ticker", "open", "high", "low", "close", "volume", "rule", "reason", "rejected by");
        foreach (var row in found.Newest)
        {
            table.AddRow(
                row.BarTs.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                Markup.Escape(row.Ticker),
                Number(row.Open),
                Number(row.High),
                Number(row.Low),
                Number(row.Close),
                row.Volume.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(row.Rule),
                Markup.Escape(row.Reason),
                Markup.Escape(row.RejectedBy));
        }

        AnsiConsole.Write(table);
    }

    /// <summary>
    /// The count line: the rows shown, and both numbers when the copies kept and the bars differ. The quarantine is
    /// kept per execution, so a bad bar fetched again (the next window's overlap, a backfill) is set aside again; a
    /// bar that silver holds from the rejecting fetch or a later one is quarantined no more.
    /// </summary>
    private static string Summary(QuarantineRead found, bool allCopies)
    {
        var copies = Invariant($"{found.Copies} row(s) kept of {found.DistinctBars} distinct bar(s), one per execution that set a bar aside");
        var accepted = found.CurrentBars is { } held && found.DistinctBars > held
            ? Invariant($"; {found.DistinctBars - held} of them in silver now (accepted from the same fetch or a later one)")
            : string.Empty;
        return found.CurrentBars switch
        {
            null => found.DistinctBars < found.Copies
                ? Invariant($"{found.Copies} row(s) of {found.DistinctBars} distinct bar(s): this execution set some bars aside more than once")
                : Invariant($"{found.Copies} row(s)"),
            { } now when now == found.Copies => Invariant($"{now} bar(s) quarantined, one row each"),
            { } now when allCopies => copies + Invariant($"; {now} of them quarantined now (fp quarantine without --all-copies lists those)"),
            { } now => Invariant($"{now} bar(s) quarantined now, one row each (its latest rejection); ") + copies + " (--all-copies lists them)" + accepted,
        };
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
