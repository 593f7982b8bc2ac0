using System.Globalization;
using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Stages.Alerts;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp runs --execution-id X</c>: everything the control database knows about one execution, whole: each stage's
/// ledger row (full error text, window, outputs, metrics, failed tickers), the alerts raised for it with the text that
/// was posted, and the messages rejected that named it. What an operator reads after a Slack alert.
/// </summary>
internal static class ExecutionReport
{
    public sealed record Facts(
        Guid ExecutionId,
        IReadOnlyList<ExecutionRow> Stages,
        IReadOnlyList<AlertNotificationRow> Alerts,
        IReadOnlyList<RejectedMessageStore.Row> Rejections,
        IReadOnlyList<ReplacedAttempt> Replaced)
    {
        /// <summary>Nothing names the execution: no ledger row, no alert, no rejection.</summary>
        public bool IsEmpty => Stages.Count == 0 && Alerts.Count == 0 && Rejections.Count == 0;
    }

    public static async Task<Facts> LoadAsync(OperatorEnvironment env, Guid executionId, CancellationToken ct) =>
        new(
            executionId,
            await env.Operator.Ledger.ListAsync(executionId, ct),
            await new AlertNotificationStore(env.DataSource, env.Operator.Time).ListByExecutionAsync(executionId, ct),
            await new RejectedMessageStore(env.DataSource).ListByExecutionAsync(executionId, ct),
            await env.Operator.Ledger.ListReplacedAttemptsAsync(executionId, ct));

    /// <summary>The report as plain text (no markup: error texts and payloads are shown as stored, escaped).</summary>
    public static string Render(Facts facts, DateTimeOffset now, TimeSpan staleAfter)
    {
        var text = new StringBuilder();
        var job = facts.Stages.FirstOrDefault()?.JobName;
        Line(text, 0, $"execution {facts.ExecutionId:D}{(job is null ? string.Empty : $" of job {Clean(job)}")}");
        if (facts.IsEmpty)
        {
            Line(text, 0, "nothing recorded: no stage claimed it, no alert and no rejection names it");
            return text.ToString();
        }

        ReplayHint? hint = null;
        string? unpublished = null;
        foreach (var stage in Enum.GetValues<Stage>())
        {
            var row = facts.Stages.FirstOrDefault(r => r.Stage == stage.ToWire());
            text.AppendLine();
            if (row is null)
            {
                Line(text, 0, $"{stage.ToWire()}: not started");
                continue;
            }

            var deadLettered = row.IsDeadLettered(facts.Alerts.Where(a => a.Kind == AlertMessage.DeadLetterKind && a.Stage == row.Stage).Max(a => (DateTimeOffset?)a.CreatedAt));
            WriteStage(text, row, now, staleAfter, deadLettered);
            WriteReplaced(text, [.. facts.Replaced.Where(a => a.Stage == row.Stage)]);
            hint ??= row.Status == "FAILED" || row.IsZombie(now, staleAfter) ? new ReplayHint(row.Stage) : null;
            unpublished ??= row.CompletionUnpublished ? row.Stage : null;
        }

        text.AppendLine();
        Line(text, 0, facts.Alerts.Count == 0 ? "alerts: none" : $"alerts: {facts.Alerts.Count}");
        foreach (var alert in facts.Alerts)
        {
            var posted = alert.Status == "SENT"
                ? $"posted to {alert.Channel ?? "?"} {Time(alert.SentAt)}"
                : $"{alert.Status}{(alert.LastError is null ? string.Empty : ": " + Clean(alert.LastError))}";
            Line(text, 1, $"{alert.Kind} ({alert.Stage ?? "no stage"}), raised {Time(alert.CreatedAt)}, {posted}, {alert.Attempts} attempt(s)");
            foreach (var messageLine in PayloadText.Printable(alert.Message, int.MaxValue, keepLineBreaks: true).Split('\n'))
            {
                Line(text, 2, messageLine);
            }
        }

        text.AppendLine();
        Line(text, 0, facts.Rejections.Count == 0 ? "rejected messages naming it: none" : $"rejected messages naming it: {facts.Rejections.Count}");
        foreach (var rejected in facts.Rejections)
        {
            Line(text, 1, $"#{rejected.Id} {Time(rejected.ReceivedAt)} {rejected.FunctionName}: {Clean(rejected.Field)}: {Clean(rejected.Reason)} (fp rejected --id {rejected.Id})");
        }

        if (unpublished is not null && job is not null)
        {
            text.AppendLine();
            Line(text, 0, $"to re-emit {unpublished}'s completion event once it can be published (its stages re-emit, none runs again): fp publish --job {Clean(job)} --execution-id {facts.ExecutionId:D}");
        }

        if (hint is { } h)
        {
            text.AppendLine();
            Line(text, 0, $"to re-run {h.Stage} and the stages after it: fp replay --execution-id {facts.ExecutionId:D} --stage {h.Stage}");
        }

        return text.ToString();
    }

    private static void WriteStage(StringBuilder text, ExecutionRow row, DateTimeOffset now, TimeSpan staleAfter, bool deadLettered)
    {
        var status = row.IsZombie(now, staleAfter)
            ? $"ZOMBIE (RUNNING, heartbeat {(now - row.HeartbeatAt).TotalSeconds:F0} s ago, stale after {staleAfter.TotalSeconds:F0} s){(deadLettered ? ", dead-lettered (Pub/Sub gave up before a redelivery could take it over; only a replay runs it again)" : string.Empty)}"
            : deadLettered ? "FAILED, dead-lettered (Pub/Sub gave up; only a replay runs it again)"
            : row.CompletionUnpublished ? "SUCCESS, completion not published (no publish of its completion event has succeeded: the next stage has not been triggered)"
            : row.Status;
        Line(text, 0, $"{row.Stage}: {status}, attempt {row.Attempt} ({LedgerCells.Reason(row.ClaimReason, row.ReplayRequestedBy)})");
        var duration = row.Duration(now, staleAfter) is { } d
            ? string.Create(CultureInfo.InvariantCulture, $", {d.TotalSeconds:F2} s{(row.IsZombie(now, staleAfter) ? " until its last heartbeat" : string.Empty)}")
            : string.Empty;
        Field(text, "started", $"{Time(row.StartedAt)}{(row.FinishedAt is { } f ? $", finished {Time(f)}" : string.Empty)}{duration}");
        if (row.Status == "RUNNING")
        {
            Field(text, "heartbeat", Time(row.HeartbeatAt));
        }

        Field(text, "window", LedgerCells.Window(row) is "-" ? null : LedgerCells.Window(row) + " UTC");
        Field(text, "rows", LedgerCells.Records(row) is "-" ? null : LedgerCells.Records(row));
        if (LedgerCells.Completion(row) is { } completion)
        {
            for (var i = 0; i < completion.Outputs.Count; i++)
            {
                Field(text, i == 0 ? "outputs" : string.Empty, Clean(completion.Outputs[i]));
            }

            Field(text, "metrics", completion.Metrics.Count == 0 ? null : string.Join(", ", completion.Metrics
                .OrderBy(m => m.Key, StringComparer.Ordinal)
                .Select(m => string.Create(CultureInfo.InvariantCulture, $"{Clean(m.Key)}={m.Value}"))));
            Field(text, "failed", completion.FailedTickers.Count == 0 ? null : string.Join(", ", completion.FailedTickers.Select(Clean)));
            if (row.Stage == StageNames.Silver && completion.Records.Rejected > 0)
            {
                Field(text, "quarantine", string.Create(CultureInfo.InvariantCulture, $"{completion.Records.Rejected} row(s) set aside: fp quarantine --execution-id {row.ExecutionId:D} lists them"));
            }
        }
        else
        {
            Field(text, "output", row.Filename is null ? null : Clean(row.Filename));
        }

        Field(text, "error", row.Error is null ? null : Clean(row.Error));
    }

    /// <summary>The attempts the row no longer shows: what each one had got to, and what replaced it.</summary>
    private static void WriteReplaced(StringBuilder text, IReadOnlyList<ReplacedAttempt> attempts)
    {
        for (var i = 0; i < attempts.Count; i++)
        {
            var a = attempts[i];
            var state = a.Status switch
            {
                "RUNNING" => $"RUNNING, last heartbeat {Time(a.HeartbeatAt)}",
                _ => $"{a.Status}{(a.FinishedAt is { } f ? " " + Time(f) : string.Empty)}{Outcome(a)}{(a.Error is null ? string.Empty : ": " + Clean(a.Error))}",
            };
            var replaced = a.ReplacedBy switch
            {
                "takeover" => "taken over",
                "replay" => "reset for replay",
                _ => "retried",
            };
            Field(text, i == 0 ? "earlier" : string.Empty, $"attempt {a.Attempt} ({LedgerCells.Reason(a.ClaimReason, a.ReplayRequestedBy)}), started {Time(a.StartedAt)}: {state}; {replaced} {Time(a.ReplacedAt)}");
        }
    }

    /// <summary>What a replaced success had read and written (its kept completion event), to compare with the replay's.</summary>
    private static string Outcome(ReplacedAttempt attempt)
    {
        if (LedgerCells.Completion(attempt.Stage, attempt.CompletionJson) is { } completion)
        {
            var outputs = completion.Outputs.Count == 1 ? "1 output" : string.Create(CultureInfo.InvariantCulture, $"{completion.Outputs.Count} outputs");
            return $", rows {LedgerCells.Records(completion)}, {outputs}";
        }

        return attempt.Records is { } records ? string.Create(CultureInfo.InvariantCulture, $", {records} rows") : string.Empty;
    }

    private static void Field(StringBuilder text, string name, string? value)
    {
        if (value is not null)
        {
            Line(text, 1, (name.Length == 0 ? string.Empty : name + ":").PadRight(FieldWidth) + value);
        }
    }

    /// <summary>The longest label, <c>quarantine:</c>, and one space: every field's value starts in one column.</summary>
    private const int FieldWidth = 12;

    private static void Line(StringBuilder text, int indent, string line) => text.Append(' ', indent * 2).AppendLine(line);

    /// <summary>Stored text as one printable line (control characters escaped: an error text may quote a payload).</summary>
    private static string Clean(string value) => PayloadText.Printable(value, int.MaxValue, keepLineBreaks: false);

    private static string Time(DateTimeOffset? at) =>
        at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC" : "-";

    private readonly record struct ReplayHint(string Stage);
}
