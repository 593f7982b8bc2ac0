using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Stages.Alerts;

/// <summary>One alert, ready to post: a plain-text form (logs, the ledger of alerts, Slack's notification text) and Block Kit.</summary>
public sealed record AlertMessage(
    string Kind,
    string DedupeKey,
    Guid? ExecutionId,
    Stage? Stage,
    string Title,
    IReadOnlyList<KeyValuePair<string, string>> Fields,
    string Detail,
    IReadOnlyList<string> ReplayCommands)
{
    public const string DeadLetterKind = "dead_letter";

    /// <summary>Slack section text is limited to 3000 characters; keep every block well under it.</summary>
    private const int MaxBlockChars = 2800;

    public string Text
    {
        get
        {
            var text = new StringBuilder(Title).Append('\n');
            foreach (var (label, value) in Fields)
            {
                text.Append(label).Append(": ").Append(value).Append('\n');
            }

            text.Append(Detail);
            foreach (var command in ReplayCommands)
            {
                text.Append("\nreplay: ").Append(command);
            }

            return text.ToString();
        }
    }

    /// <summary>The body of a Slack incoming-webhook POST: <c>text</c> (notification fallback) and <c>blocks</c>.</summary>
    public JsonObject ToSlackPayload()
    {
        var blocks = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "header",
                ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = Truncate(Title, 150) },
            },
            new JsonObject
            {
                ["type"] = "section",
                ["fields"] = new JsonArray(Fields.Take(10).Select(f => (JsonNode)Mrkdwn($"*{Escape(f.Key)}*\n{Escape(f.Value)}", 1900)).ToArray()),
            },
            new JsonObject { ["type"] = "section", ["text"] = Mrkdwn(CodeBlock(Detail), MaxBlockChars) },
        };
        if (ReplayCommands.Count > 0)
        {
            blocks.Add(new JsonObject
            {
                ["type"] = "section",
                ["text"] = Mrkdwn("*Replay* (after fixing the cause)\n" + string.Join('\n', ReplayCommands.Select(CodeBlock)), MaxBlockChars),
            });
        }

        return new JsonObject { ["text"] = Escape(Title), ["blocks"] = blocks };
    }

    /// <summary>Slack mrkdwn control characters (&amp;, &lt;, &gt;) must be escaped everywhere, code blocks included.</summary>
    public static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal);

    private static string CodeBlock(string text) => "```" + Escape(text.Replace("```", "'''", StringComparison.Ordinal)) + "```";

    private static JsonObject Mrkdwn(string text, int max) => new() { ["type"] = "mrkdwn", ["text"] = Truncate(text, max) };

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..(max - 1)] + "…";
}

/// <summary>Builds the alerts: what happened, the ledger's error, and the commands that replay the message.</summary>
public static partial class AlertComposer
{
    private const int MaxInlineMessageChars = 1500;
    private const int MaxErrorChars = 1500;

    public static AlertMessage ForDeadLetter(DeadLetter deadLetter, ExecutionRow? ledgerRow, StageTopics topics, string projectId)
    {
        var stage = deadLetter.Stage?.ToWire() ?? "unknown";
        var execution = deadLetter.ExecutionId?.ToString("D") ?? "unknown";
        var deliveries = deadLetter.DeliveryCount?.ToString(CultureInfo.InvariantCulture) ?? "unknown";
        var fields = DeadLetterFields(deadLetter, ledgerRow is null ? "no row" : $"{ledgerRow.Status}, attempt {ledgerRow.Attempt}");
        var subject = deadLetter.Stage is not null && deadLetter.ExecutionId is not null
            ? $"{stage} of execution {execution}"
            : "a message naming no execution and stage the pipeline knows";
        var title = deadLetter.DeliveryCount is null
            ? $"Dead letter: {subject} (no delivery count: not dead-lettered by Pub/Sub, published to the topic directly?)"
            : $"Dead letter: {subject} gave up after {deliveries} deliveries";
        return new AlertMessage(AlertMessage.DeadLetterKind, deadLetter.DedupeKey, deadLetter.ExecutionId, deadLetter.Stage, title, fields, ErrorOf(deadLetter, ledgerRow), ReplayCommandsOf(deadLetter, topics, projectId, reemit: false));
    }

    /// <summary>
    /// A dead letter of a stage the ledger shows SUCCESS whose completion event no publish ever got out
    /// (<see cref="ExecutionRow.CompletionUnpublished"/>): each delivery of its trigger tried to publish it and failed.
    /// The next stage has not run. Replaying the trigger re-emits the event once publishing works again.
    /// </summary>
    public static AlertMessage ForUnpublishedCompletion(DeadLetter deadLetter, ExecutionRow row, StageTopics topics, string projectId)
    {
        var stage = StageNames.TryParse(row.Stage, out var s) ? s : throw new ArgumentException($"unknown stage '{row.Stage}'", nameof(row));
        var topic = topics.CompletedOf(stage);
        var deliveries = deadLetter.DeliveryCount?.ToString(CultureInfo.InvariantCulture) ?? "several";
        var fields = DeadLetterFields(deadLetter, $"SUCCESS, attempt {row.Attempt}, completion never published");
        fields.Add(new("Completion topic", topic));
        var next = stage switch
        {
            Core.Contracts.Stage.Bronze => "silver (and gold after it) has not run",
            Core.Contracts.Stage.Silver => "gold has not run",
            _ => "nothing subscribed to it has been told that gold finished",
        };
        var detail = string.Create(
            CultureInfo.InvariantCulture,
            $"{row.Stage} succeeded{(row.FinishedAt is { } f ? $" at {PipelineJson.FormatUtc(f)}" : string.Empty)}, but its completion event could not be published to {topic}: each delivery of its trigger tried to publish it and failed, and Pub/Sub gave up after {deliveries} deliveries. So {next}. Likely causes: the {row.Stage} function's service account lacks roles/pubsub.publisher on {topic}, or the topic does not exist (deleted), or an organisation policy blocks publishing to it. The function's log has the publish error. Once fixed, publish the trigger again (below): {row.Stage} re-emits its stored event without redoing its work, and the next stage runs.");
        return new AlertMessage(
            AlertMessage.DeadLetterKind,
            deadLetter.DedupeKey,
            row.ExecutionId,
            stage,
            $"Completion not published: {row.Stage} of execution {row.ExecutionId:D} succeeded, its event never went out",
            fields,
            detail,
            ReplayCommandsOf(deadLetter, topics, projectId, reemit: true));
    }

    private static List<KeyValuePair<string, string>> DeadLetterFields(DeadLetter deadLetter, string ledger) =>
    [
        new("Execution", deadLetter.ExecutionId?.ToString("D") ?? "unknown"),
        new("Stage", deadLetter.Stage?.ToWire() ?? "unknown"),
        new("Job", deadLetter.JobName ?? "unknown"),
        new("Deliveries", deadLetter.DeliveryCount?.ToString(CultureInfo.InvariantCulture) ?? "unknown"),
        new("Source subscription", deadLetter.SourceSubscription ?? "unknown"),
        new("First published", deadLetter.SourcePublishTime is { } published ? PipelineJson.FormatUtc(published) : "unknown"),
        new("Ledger", ledger),
    ];

    public static AlertMessage ForTakeover(TakeoverAlertEvent takeover)
    {
        var stage = takeover.Stage.ToWire();
        var fields = new List<KeyValuePair<string, string>>
        {
            new("Execution", takeover.ExecutionId.ToString("D")),
            new("Stage", stage),
            new("Job", takeover.JobName),
            new("New attempt", takeover.Attempt.ToString(CultureInfo.InvariantCulture)),
            new("Detected at", PipelineJson.FormatUtc(takeover.DetectedAt)),
        };
        // The threshold is not how long the worker was silent: an hour-old zombie must not read as "more than 90 s".
        var silent = takeover.LastHeartbeatAt is { } last
            ? string.Create(CultureInfo.InvariantCulture, $"last heartbeated at {last.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, {takeover.Silence!.Value.TotalSeconds:F0} s before the takeover (stale after {takeover.StaleAfterSeconds} s)")
            : string.Create(CultureInfo.InvariantCulture, $"stopped heartbeating for more than {takeover.StaleAfterSeconds} s");
        if (takeover.LastHeartbeatAt is { } lastHeartbeat)
        {
            fields.Add(new("Last heartbeat", PipelineJson.FormatUtc(lastHeartbeat)));
        }

        var detail = string.Create(
            CultureInfo.InvariantCulture,
            $"The worker running {stage} (attempt {takeover.Attempt - 1}) {silent}: it crashed, was OOM-killed or hung. Attempt {takeover.Attempt} took the row over and is re-running the stage. The old worker stops writing as soon as it notices. No action needed unless this repeats.");
        return new AlertMessage(
            TakeoverAlertEvent.Kind,
            $"{TakeoverAlertEvent.Kind}:{takeover.ExecutionId:D}:{stage}:{takeover.Attempt}",
            takeover.ExecutionId,
            takeover.Stage,
            $"Zombie takeover: {stage} of execution {takeover.ExecutionId:D} (attempt {takeover.Attempt})",
            fields,
            detail,
            []);
    }

    private static string ErrorOf(DeadLetter deadLetter, ExecutionRow? row)
    {
        if (deadLetter.ExecutionId is null || deadLetter.Stage is null)
        {
            return "The message names no execution and stage the pipeline knows; payload: " + PayloadText.Preview(deadLetter.Data.Span, 300);
        }

        if (row is null)
        {
            return $"No ledger row for ({deadLetter.ExecutionId:D}, {deadLetter.Stage.Value.ToWire()}): the stage never claimed the message.";
        }

        var error = row.Status == "RUNNING"
            ? $"Its worker went silent: the last heartbeat was at {PipelineJson.FormatUtc(row.HeartbeatAt)} (attempt {row.Attempt}). It crashed, hung, or lost the control database, and Pub/Sub gave up on the message before a redelivery took the stage over, so nothing will run it again: replay it (below)."
            : row.Error ?? $"(no error recorded; status {row.Status})";
        return error.Length > MaxErrorChars ? error[..MaxErrorChars] + "…" : error;
    }

    /// <param name="reemit">
    /// The stage succeeded and only its event must go out again: <c>fp publish</c> of the execution (its finished stages
    /// re-emit) rather than <c>fp replay</c>, which would reset the stage and redo its work.
    /// </param>
    private static List<string> ReplayCommandsOf(DeadLetter deadLetter, StageTopics topics, string projectId, bool reemit)
    {
        var commands = new List<string>();
        if (deadLetter.Stage is not { } stage)
        {
            return commands;
        }

        var text = PayloadText.TryDecode(deadLetter.Data.Span);
        var attributes = deadLetter.ExecutionId is { } id && deadLetter.JobName is { } job ? $" --attribute=execution_id={id:D},job_name={job}" : string.Empty;
        if (text is not null && text.Length <= MaxInlineMessageChars)
        {
            // The exact message that was dead-lettered, to the topic it came from.
            commands.Add($"gcloud pubsub topics publish {ShellArg(topics.TriggerOf(stage))} --project={ShellArg(projectId)} --message={ShellQuote(text)}{attributes}");
        }
        else if (deadLetter.ExecutionId is { } executionId && deadLetter.JobName is { } jobName)
        {
            // Too long to inline: a start message with the same execution id replays the chain (finished stages re-emit their events).
            var start = new StartMessage(executionId, jobName, null, null).ToString();
            commands.Add($"gcloud pubsub topics publish {ShellArg(topics.Start)} --project={ShellArg(projectId)} --message={ShellQuote(start)}{attributes}");
        }

        if (reemit && deadLetter.ExecutionId is { } reemitted && deadLetter.JobName is { } reemittedJob)
        {
            commands.Add($"fp publish --job {reemittedJob} --execution-id {reemitted:D}");
        }
        else if (!reemit && deadLetter.ExecutionId is { } exec)
        {
            commands.Add($"fp replay --execution-id {exec:D} --stage {stage.ToWire()}");
        }

        return commands;
    }

    /// <summary>POSIX single quotes: everything literal; an embedded quote becomes <c>'\''</c>.</summary>
    public static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string ShellArg(string value) => SafeShellWord().IsMatch(value) ? value : ShellQuote(value);

    [GeneratedRegex("^[A-Za-z0-9._:/@=,-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex SafeShellWord();
}
