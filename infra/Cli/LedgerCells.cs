using System.Globalization;
using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>How <c>fp run</c> and <c>fp runs</c> show a ledger row's counts and window.</summary>
internal static class LedgerCells
{
    /// <summary>
    /// "in → out" (written), plus rejected rows, from the stored completion event; the ledger's own count otherwise. Gold's
    /// "written" is the rows its MERGE changed, so a run over data gold already has shows "→ 0", not a failure.
    /// </summary>
    public static string Records(ExecutionRow row)
    {
        return Completion(row) is { } completion ? Records(completion) : row.Records?.ToString(CultureInfo.InvariantCulture) ?? "-";
    }

    /// <summary>
    /// As <see cref="Records(RecordCounts, long, string?)"/>, with silver's superseded rows: those silver already held from
    /// a newer ingestion (a replay of an older execution), which are neither written nor rejected; and with the reasons
    /// of bronze's dropped rows (<c>bars_dropped_null</c>, <c>bars_dropped_duplicate</c>) when the event has them.
    /// </summary>
    public static string Records(StageCompletedMessage completion) =>
        Records(completion.Records, completion.Metrics.GetValueOrDefault("rows_superseded"), DropReasons(completion));

    /// <summary>"in → out", plus the rejected (with <paramref name="rejectedReasons"/>) and superseded rows when there are any.</summary>
    public static string Records(RecordCounts counts, long superseded = 0, string? rejectedReasons = null)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{counts.In} → {counts.Written}");
        var set = new List<string>(2);
        if (counts.Rejected > 0)
        {
            var reasons = rejectedReasons is null ? string.Empty : ": " + rejectedReasons;
            set.Add(string.Create(CultureInfo.InvariantCulture, $"{counts.Rejected} rejected{reasons}"));
        }

        if (superseded > 0)
        {
            set.Add(string.Create(CultureInfo.InvariantCulture, $"{superseded} superseded"));
        }

        return set.Count == 0 ? text : $"{text} ({string.Join(", ", set)})";
    }

    /// <summary>
    /// Bronze's dropped rows by reason, "2 null, 1 duplicate" (the non-zero ones), or null: another stage, or an event
    /// stored before the reasons were recorded.
    /// </summary>
    private static string? DropReasons(StageCompletedMessage completion)
    {
        if (completion.Stage != StageNames.Bronze
            || !completion.Metrics.TryGetValue("bars_dropped_null", out var nulls)
            || !completion.Metrics.TryGetValue("bars_dropped_duplicate", out var duplicates))
        {
            return null;
        }

        var parts = new List<string>(2);
        if (nulls > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{nulls} null"));
        }

        if (duplicates > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{duplicates} duplicate"));
        }

        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    /// <summary>Printed under a table holding a <see cref="GoldUnchanged"/> row, so "→ 0" does not read as data lost.</summary>
    private const string GoldUnchangedNote =
        "gold → 0: every hour of that window was already in gold with these values; the MERGE changed nothing (a re-run is harmless)";

    /// <summary>The lines that go under a table of <paramref name="rows"/>: today, why a gold "→ 0" is harmless.</summary>
    public static void WriteFootnotes(IEnumerable<ExecutionRow> rows)
    {
        if (rows.Any(GoldUnchanged))
        {
            AnsiConsole.MarkupLine($"[grey]{GoldUnchangedNote}[/]");
        }
    }

    /// <summary>True when gold succeeded on rows it already held unchanged: the "→ 0" a re-run shows.</summary>
    public static bool GoldUnchanged(ExecutionRow row) =>
        row.Stage == StageNames.Gold && row.Status == "SUCCESS" && Counts(row) is { In: > 0, Written: 0 };

    /// <summary>The counts of the stored completion event, or null (none yet, or stored by an older version).</summary>
    private static RecordCounts? Counts(ExecutionRow row) => Completion(row)?.Records;

    /// <summary>The row's stored completion event, or null (none yet, or one this version cannot read).</summary>
    public static StageCompletedMessage? Completion(ExecutionRow row) => Completion(row.Stage, row.CompletionJson);

    /// <summary>A stored completion event of <paramref name="stageName"/>, or null (none, or one this version cannot read).</summary>
    public static StageCompletedMessage? Completion(string stageName, string? completionJson)
    {
        if (completionJson is not { } json || !StageNames.TryParse(stageName, out var stage))
        {
            return null;
        }

        try
        {
            return StageCompletedMessage.Parse(Encoding.UTF8.GetBytes(json), stage);
        }
        catch (MessageRejectedException)
        {
            return null;
        }
    }

    /// <summary>Why an attempt was claimed; a replay's with who asked for it (<c>fp replay --by</c>, kept in the ledger).</summary>
    public static string Reason(string claimReason, string? replayRequestedBy) =>
        claimReason == "replay" && replayRequestedBy is not null
            ? $"replay by {PayloadText.Printable(replayRequestedBy, int.MaxValue, keepLineBreaks: false)}"
            : claimReason;

    public static string Window(ExecutionRow row) =>
        row.StartTime is { } s && row.EndTime is { } e
            ? string.Create(CultureInfo.InvariantCulture, $"{s:yyyy-MM-dd HH:mm} → {e:yyyy-MM-dd HH:mm}{(row.WindowKind == "backfill" ? " (backfill)" : string.Empty)}")
            : "-";
}
