using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace FinancialPipeline.Hosting;

/// <summary>
/// One JSON object per line in the shape Cloud Logging parses from stdout: <c>severity</c>, <c>message</c>,
/// <c>time</c>, plus every structured value of the message and its scopes (execution_id, stage…) as top-level
/// fields, and the exception text under <c>stack_trace</c>.
/// </summary>
public sealed class CloudLoggingJsonFormatter : ConsoleFormatter
{
    public const string FormatterName = "cloud-logging-json";

    public CloudLoggingJsonFormatter()
        : base(FormatterName)
    {
    }

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception) ?? string.Empty;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("severity", Severity(logEntry.LogLevel));
            json.WriteString("message", message);
            json.WriteString("time", TimeProvider.System.GetUtcNow().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("category", logEntry.Category);
            var written = new HashSet<string>(StringComparer.Ordinal) { "severity", "message", "time", "category" };
            scopeProvider?.ForEachScope((scope, w) => WriteValues(scope, w, written), json);
            WriteValues(logEntry.State, json, written);
            if (logEntry.Exception is { } ex)
            {
                json.WriteString("stack_trace", ex.ToString());
            }

            json.WriteEndObject();
        }

        textWriter.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static void WriteValues(object? state, Utf8JsonWriter json, HashSet<string> written)
    {
        if (state is not IEnumerable<KeyValuePair<string, object?>> pairs)
        {
            return;
        }

        foreach (var (key, value) in pairs)
        {
            if (key == "{OriginalFormat}" || !written.Add(key))
            {
                continue;
            }

            switch (value)
            {
                case null: json.WriteNull(key); break;
                case bool b: json.WriteBoolean(key, b); break;
                case int i: json.WriteNumber(key, i); break;
                case long l: json.WriteNumber(key, l); break;
                case double d when double.IsFinite(d): json.WriteNumber(key, d); break;
                case DateTimeOffset t: json.WriteString(key, t.ToString("O", System.Globalization.CultureInfo.InvariantCulture)); break;
                default: json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            }
        }
    }

    private static string Severity(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO",
        LogLevel.Warning => "WARNING",
        LogLevel.Error => "ERROR",
        LogLevel.Critical => "CRITICAL",
        _ => "DEFAULT",
    };
}

