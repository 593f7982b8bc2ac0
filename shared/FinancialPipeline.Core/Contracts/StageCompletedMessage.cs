using System.Text.Json;
using System.Text.Json.Serialization;

namespace FinancialPipeline.Core.Contracts;

/// <summary>Record counts of one stage run.</summary>
public sealed record RecordCounts(
    [property: JsonPropertyName("in")] long In,
    [property: JsonPropertyName("written")] long Written,
    [property: JsonPropertyName("rejected")] long Rejected);

/// <summary>Wire form of a window inside completion messages.</summary>
public sealed record WindowDto(DateTimeOffset Start, DateTimeOffset End)
{
    public static WindowDto From(TimeWindow w) => new(w.Start, w.End);

    public TimeWindow ToWindow() => new(Start.ToUniversalTime(), End.ToUniversalTime());
}

/// <summary>
/// The event each stage publishes once its ledger row is SUCCESS; the next stage's trigger.
/// Versioned: consumers reject a <see cref="SchemaVersion"/> they do not know.
/// </summary>
public sealed record StageCompletedMessage
{
    public const int CurrentSchemaVersion = 1;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    public required Guid ExecutionId { get; init; }

    public required string JobName { get; init; }

    public required string Stage { get; init; }

    public required WindowDto Window { get; init; }

    public required RecordCounts Records { get; init; }

    /// <summary>Object URIs (gs://… or file://…) or the table the stage wrote.</summary>
    public IReadOnlyList<string> Outputs { get; init; } = [];

    /// <summary>Bar dates (UTC, yyyy-MM-dd) whose partitions the stage wrote: what the next stage recomputes.</summary>
    public IReadOnlyList<string> TouchedDates { get; init; } = [];

    /// <summary>Named counters: rejections per rule, tickers failed, bars dropped…</summary>
    public IReadOnlyDictionary<string, long> Metrics { get; init; } = new Dictionary<string, long>();

    public IReadOnlyList<string> FailedTickers { get; init; } = [];

    /// <summary>
    /// The job's tickers the stage ran with: silver's list (its <c>ticker_in_job</c> rule), the rows gold recomputes,
    /// whatever the job row says by the time gold runs. Empty when the producer did not say (older events, bronze, gold).
    /// </summary>
    public IReadOnlyList<string> Tickers { get; init; } = [];

    /// <summary>Newest bar (bronze/silver) written by this run, or the gold table's newest hour after it (also when it touched nothing): the freshness mark.</summary>
    public DateTimeOffset? NewestTimestamp { get; init; }

    public int Attempt { get; init; } = 1;

    public required DateTimeOffset CompletedAt { get; init; }

    public byte[] ToUtf8Json() => JsonSerializer.SerializeToUtf8Bytes(this, PipelineJson.Options);

    public IReadOnlyDictionary<string, string> Attributes() => new Dictionary<string, string>
    {
        ["execution_id"] = ExecutionId.ToString("D"),
        ["job_name"] = JobName,
        ["stage"] = Stage,
        ["schema_version"] = SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Parses and validates a completion event coming from <paramref name="expectedStage"/>.</summary>
    public static StageCompletedMessage Parse(ReadOnlyMemory<byte> utf8, Stage expectedStage)
    {
        Guid executionId;
        using (var doc = PipelineJson.ParseObject(utf8))
        {
            var root = doc.RootElement;
            if (root.TryGetProperty("schema_version", out var v)
                && (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var version) || version != CurrentSchemaVersion))
            {
                throw new MessageRejectedException("schema_version", $"unsupported value {v.GetRawText()}; this consumer reads {CurrentSchemaVersion}");
            }

            executionId = PipelineJson.RequiredUuid(root, "execution_id");
            PipelineJson.ForExecution(executionId, () => CheckShape(root, expectedStage));
        }

        return PipelineJson.ForExecution(executionId, () => Deserialize(utf8));
    }

    /// <summary>What the typed deserialisation would accept silently or explain badly: checked first, named by field.</summary>
    private static bool CheckShape(JsonElement root, Stage expectedStage)
    {
        StartMessage.ValidJobName(PipelineJson.RequiredString(root, "job_name"));
        var stage = PipelineJson.RequiredString(root, "stage");
        if (stage != expectedStage.ToWire())
        {
            throw new MessageRejectedException("stage", $"'{stage}' but this function consumes '{expectedStage.ToWire()}' completions");
        }

        if (!root.TryGetProperty("window", out var w) || w.ValueKind != JsonValueKind.Object)
        {
            throw new MessageRejectedException("window", "is required");
        }

        StartMessage.ParseWindow(w, "window");
        // Every timestamp of a message is RFC 3339 UTC (the typed deserialisation would take another offset, or none as
        // the machine's local time).
        PipelineJson.OptionalUtcTimestamp(root, "completed_at", "completed_at");
        PipelineJson.OptionalUtcTimestamp(root, "newest_timestamp", "newest_timestamp");
        if (!root.TryGetProperty("records", out var records) || records.ValueKind != JsonValueKind.Object)
        {
            // The typed deserialisation would take "records": null for a message without counts.
            throw new MessageRejectedException("records", records.ValueKind == JsonValueKind.Undefined ? "is required" : $"must be an object with in, written and rejected, got {records.ValueKind}");
        }

        if (root.TryGetProperty("metrics", out var metrics) && metrics.ValueKind != JsonValueKind.Object)
        {
            throw new MessageRejectedException("metrics", $"must be an object of named counts, got {metrics.ValueKind}");
        }

        // Lists of strings: the typed deserialisation takes a null list or a null entry as they are, and the consuming
        // stage would meet them after its claim as a NullReferenceException naming no field.
        StringList(root, "outputs");
        StringList(root, "failed_tickers");
        var tickers = StringList(root, "tickers");
        for (var i = 0; i < tickers.Count; i++)
        {
            if (!Jobs.JobConfig.IsValidTicker(tickers[i]))
            {
                throw new MessageRejectedException($"tickers[{i}]", $"'{PipelineJson.Truncate(tickers[i])}' is not a ticker: {Jobs.JobConfig.TickerRule}");
            }
        }

        var dates = StringList(root, "touched_dates");
        for (var i = 0; i < dates.Count; i++)
        {
            if (!Storage.ObjectLayout.TryParseDateKey(dates[i], out _))
            {
                throw new MessageRejectedException($"touched_dates[{i}]", $"'{PipelineJson.Truncate(dates[i])}' is not yyyy-MM-dd");
            }
        }

        return true;
    }

    /// <summary>The strings of the optional array <paramref name="field"/> (empty when absent); a null or non-string entry is rejected as <c>field[i]</c>.</summary>
    private static List<string> StringList(JsonElement root, string field)
    {
        var items = new List<string>();
        if (!root.TryGetProperty(field, out var array))
        {
            return items;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new MessageRejectedException(field, $"must be an array of strings, got {array.ValueKind}");
        }

        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            items.Add(item.ValueKind switch
            {
                JsonValueKind.String => PipelineJson.Text(item, $"{field}[{i}]"),
                JsonValueKind.Null => throw new MessageRejectedException($"{field}[{i}]", "is null; every entry must be a string"),
                _ => throw new MessageRejectedException($"{field}[{i}]", $"must be a string, got {item.ValueKind}"),
            });
            i++;
        }

        return items;
    }

    private static StageCompletedMessage Deserialize(ReadOnlyMemory<byte> utf8)
    {
        StageCompletedMessage message;
        try
        {
            message = JsonSerializer.Deserialize<StageCompletedMessage>(utf8.Span, PipelineJson.Options)
                ?? throw new MessageRejectedException("data", "is null");
        }
        catch (JsonException ex)
        {
            throw new MessageRejectedException(ex.Path ?? "data", $"has the wrong shape ({ex.Message})");
        }

        // CheckShape rejected a null list or entry and a malformed touched date, so the consuming stage never meets them after its claim.
        return message;
    }
}
