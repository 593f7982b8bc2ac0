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
        return true;
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

        // Checked here, with the rest of the shape, so the consuming stage rejects it before its claim.
        if (message.TouchedDates.FirstOrDefault(key => !Storage.ObjectLayout.TryParseDateKey(key, out _)) is { } badDate)
        {
            throw new MessageRejectedException("touched_dates", $"'{badDate}' is not yyyy-MM-dd");
        }

        return message;
    }
}
