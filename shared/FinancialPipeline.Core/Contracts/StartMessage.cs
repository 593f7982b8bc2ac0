using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FinancialPipeline.Core.Contracts;

/// <summary>
/// What Airflow (or an operator's <c>gcloud pubsub topics publish</c>) sends to start one execution.
/// Unknown fields are ignored; a missing or malformed <c>execution_id</c>/<c>job_name</c> is permanent.
/// </summary>
public sealed partial record StartMessage(
    Guid ExecutionId,
    string JobName,
    DateTimeOffset? RequestedAt,
    TimeWindow? Window)
{
    public static StartMessage Parse(ReadOnlyMemory<byte> utf8)
    {
        using var doc = PipelineJson.ParseObject(utf8);
        var root = doc.RootElement;
        var executionId = PipelineJson.RequiredUuid(root, "execution_id");
        return PipelineJson.ForExecution(executionId, () =>
        {
            var jobName = ValidJobName(PipelineJson.RequiredString(root, "job_name"));
            var requestedAt = PipelineJson.OptionalUtcTimestamp(root, "requested_at", "requested_at");
            TimeWindow? window = null;
            if (root.TryGetProperty("window", out var w) && w.ValueKind != JsonValueKind.Null)
            {
                if (w.ValueKind != JsonValueKind.Object)
                {
                    throw new MessageRejectedException("window", $"must be an object with start and end, got {w.ValueKind}");
                }

                window = RequireMicroseconds(ParseWindow(w, "window"));
            }

            return new StartMessage(executionId, jobName, requestedAt, window);
        });
    }

    public static TimeWindow ParseWindow(JsonElement w, string path)
    {
        if (!w.TryGetProperty("start", out var s))
        {
            throw new MessageRejectedException($"{path}.start", "is required");
        }

        if (!w.TryGetProperty("end", out var e))
        {
            throw new MessageRejectedException($"{path}.end", "is required");
        }

        var start = PipelineJson.UtcTimestamp(s, $"{path}.start");
        var end = PipelineJson.UtcTimestamp(e, $"{path}.end");
        if (end <= start)
        {
            throw new MessageRejectedException(path, $"end {PipelineJson.FormatUtc(end)} must be after start {PipelineJson.FormatUtc(start)}");
        }

        return new TimeWindow(start, end);
    }

    /// <summary>
    /// A start window as the ledger can hold it: PostgreSQL's timestamptz keeps microseconds, so a bound with a finer
    /// fraction would be stored as another instant (a 100 ns window became empty and broke the claim on every delivery).
    /// </summary>
    /// <exception cref="MessageRejectedException">A bound has a non-zero digit past the microseconds (field window.start or window.end).</exception>
    public static TimeWindow RequireMicroseconds(TimeWindow window)
    {
        foreach (var (bound, field) in new[] { (window.Start, "window.start"), (window.End, "window.end") })
        {
            if (bound.UtcTicks % TimeSpan.TicksPerMicrosecond != 0)
            {
                throw new MessageRejectedException(field, $"{PipelineJson.FormatUtc(bound)} is finer than a microsecond, the precision the control database keeps");
            }
        }

        return window;
    }

    public static string ValidJobName(string jobName)
    {
        if (!JobNamePattern().IsMatch(jobName))
        {
            throw new MessageRejectedException("job_name", $"'{(jobName.Length > 64 ? jobName[..64] : jobName)}' must match ^[a-z][a-z0-9_]{{0,63}}$");
        }

        return jobName;
    }

    public byte[] ToUtf8Json()
    {
        var body = new Dictionary<string, object?>
        {
            ["execution_id"] = ExecutionId.ToString("D"),
            ["job_name"] = JobName,
        };
        if (RequestedAt is { } at)
        {
            body["requested_at"] = PipelineJson.FormatUtc(at);
        }

        if (Window is { } win)
        {
            body["window"] = new Dictionary<string, string>
            {
                ["start"] = PipelineJson.FormatUtc(win.Start),
                ["end"] = PipelineJson.FormatUtc(win.End),
            };
        }

        return JsonSerializer.SerializeToUtf8Bytes(body, PipelineJson.Options);
    }

    /// <summary>The attributes Airflow sets beside the body, so subscriptions can filter without decoding.</summary>
    public IReadOnlyDictionary<string, string> Attributes() => new Dictionary<string, string>
    {
        ["execution_id"] = ExecutionId.ToString("D"),
        ["job_name"] = JobName,
    };

    public override string ToString() => Encoding.UTF8.GetString(ToUtf8Json());

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex JobNamePattern();
}
