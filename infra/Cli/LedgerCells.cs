using System.Globalization;
using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;

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
        if (row.CompletionJson is { } json && StageNames.TryParse(row.Stage, out var stage))
        {
            try
            {
                var counts = StageCompletedMessage.Parse(Encoding.UTF8.GetBytes(json), stage).Records;
                var text = string.Create(CultureInfo.InvariantCulture, $"{counts.In} → {counts.Written}");
                return counts.Rejected > 0 ? string.Create(CultureInfo.InvariantCulture, $"{text} ({counts.Rejected} rejected)") : text;
            }
            catch (MessageRejectedException)
            {
                // An event stored by an older version: fall back to the ledger's count.
            }
        }

        return row.Records?.ToString(CultureInfo.InvariantCulture) ?? "-";
    }

    public static string Window(ExecutionRow row) =>
        row.StartTime is { } s && row.EndTime is { } e
            ? string.Create(CultureInfo.InvariantCulture, $"{s:yyyy-MM-dd HH:mm} → {e:yyyy-MM-dd HH:mm}{(row.WindowKind == "backfill" ? " (backfill)" : string.Empty)}")
            : "-";
}
