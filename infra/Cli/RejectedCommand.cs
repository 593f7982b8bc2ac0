using System.CommandLine;
using System.Globalization;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Stages.Alerts;
using FinancialPipeline.Stages.Functions;
using Spectre.Console;

namespace FinancialPipeline.Cli;

/// <summary>
/// <c>fp rejected</c>: the messages the functions answered 200 without running, with the field and reason recorded for
/// each (<c>rejected_message</c>), so a poison message is found without a SQL client; <c>--id</c> prints one whole.
/// </summary>
internal static class RejectedCommand
{
    private const int PreviewChars = 48;

    public static Command Create()
    {
        var limit = LimitOption.Create("Rejections to show, newest first");
        var function = new Option<string?>("--function") { Description = "Only those of this function" }
            .OneOf(ExtractFunction.Name, TransformFunction.Name, AggregateFunction.Name, AlertFunction.Name);
        var id = CheckedOptions.OptionalWholeNumber("--id", "Print this rejection whole: attributes and the full payload", 1L); // ids start at 1
        var command = new Command("rejected", "Messages the functions refused (answered 200, never retried), with the field and reason");
        command.Options.Add(limit);
        command.Options.Add(function);
        command.Options.Add(id);
        command.SetAction((parse, ct) => ExecuteAsync(parse.GetValue(limit), parse.GetValue(function), parse.GetValue(id), ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(int limit, string? function, long? id, CancellationToken ct)
    {
        await using var env = OperatorEnvironment.TryCreate("rejected");
        if (env is null)
        {
            return 2;
        }

        var store = new RejectedMessageStore(env.DataSource);
        if (id is { } one)
        {
            if (await store.GetAsync(one, ct) is not { } row)
            {
                Console.Error.WriteLine($"fp rejected: no rejected message has id {one}");
                return 1;
            }

            WriteWhole(row);
            return 0;
        }

        WriteTable(await store.ListRecentAsync(limit, function, ct), function);
        return 0;
    }

    private static void WriteTable(IReadOnlyList<RejectedMessageStore.Row> rows, string? function)
    {
        if (rows.Count == 0)
        {
            Console.WriteLine(function is null ? "no rejected messages" : $"no message rejected by {function}");
            return;
        }

        var table = new Table();
        table.AddColumns("id", "received (UTC)", "function", "field", "reason", "execution", "message", "payload");
        foreach (var row in rows)
        {
            table.AddRow(
                row.Id.ToString(CultureInfo.InvariantCulture),
                row.ReceivedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                row.FunctionName,
                Markup.Escape(row.Field),
                Markup.Escape(row.Reason),
                Markup.Escape(row.ExecutionId ?? "-"),
                Markup.Escape(row.MessageId ?? "-"),
                Markup.Escape(PayloadText.Preview(row.Payload, PreviewChars)));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]fp rejected --id ID prints one whole; fix the message and publish it again (a rejected message is never retried)[/]");
    }

    private static void WriteWhole(RejectedMessageStore.Row row)
    {
        var lines = new (string Name, string? Value)[]
        {
            ("id", row.Id.ToString(CultureInfo.InvariantCulture)),
            ("received", row.ReceivedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture) + " UTC"),
            ("function", row.FunctionName),
            ("field", row.Field),
            ("reason", row.Reason),
            ("execution", row.ExecutionId),
            ("message", row.MessageId),
            ("subscription", row.Subscription),
            ("source", row.Source),
            ("attributes", row.AttributesJson),
        };
        foreach (var (name, value) in lines)
        {
            Console.WriteLine($"{name + ":",-14}{(value is null ? "-" : PayloadText.Printable(value, int.MaxValue, keepLineBreaks: false))}");
        }

        var truncated = row.Payload.Length >= RejectedMessageStore.MaxPayloadBytes ? ", the first of a longer message" : string.Empty;
        if (PayloadText.TryDecode(row.Payload) is { } text)
        {
            Console.WriteLine($"payload:      {row.Payload.Length} bytes, UTF-8{truncated}");
            Console.WriteLine(PayloadText.Printable(text, int.MaxValue, keepLineBreaks: true));
        }
        else
        {
            Console.WriteLine($"payload:      {row.Payload.Length} bytes, not UTF-8, base64{truncated}");
            Console.WriteLine(Convert.ToBase64String(row.Payload));
        }
    }
}
