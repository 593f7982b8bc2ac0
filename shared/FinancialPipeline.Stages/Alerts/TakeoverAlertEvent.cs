using System.Text.Json;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Stages.Alerts;

/// <summary>
/// Published by a stage to the alerts topic when it took over a zombie (a RUNNING row with a stale heartbeat).
/// Attribute <see cref="AlertAttribute"/> = <see cref="Kind"/> tells the Alert function what it is.
/// </summary>
public sealed record TakeoverAlertEvent(
    Guid ExecutionId,
    string JobName,
    Stage Stage,
    int Attempt,
    int StaleAfterSeconds,
    DateTimeOffset DetectedAt,
    DateTimeOffset? LastHeartbeatAt = null)
{
    public const string AlertAttribute = "fp_alert";
    public const string Kind = "zombie_takeover";
    public const int SchemaVersion = 1;

    /// <summary>How long the replaced worker had been silent when it was taken over, if its last heartbeat is known.</summary>
    public TimeSpan? Silence => DetectedAt - LastHeartbeatAt;

    public byte[] ToUtf8Json()
    {
        var json = new Dictionary<string, object>
        {
            ["schema_version"] = SchemaVersion,
            ["kind"] = Kind,
            ["execution_id"] = ExecutionId.ToString("D"),
            ["job_name"] = JobName,
            ["stage"] = Stage.ToWire(),
            ["attempt"] = Attempt,
            ["stale_after_seconds"] = StaleAfterSeconds,
            ["detected_at"] = PipelineJson.FormatUtc(DetectedAt),
        };
        if (LastHeartbeatAt is { } lastHeartbeat)
        {
            json["last_heartbeat_at"] = PipelineJson.FormatUtc(lastHeartbeat); // optional: events published before it had none
        }

        return JsonSerializer.SerializeToUtf8Bytes(json, PipelineJson.Options);
    }

    public IReadOnlyDictionary<string, string> Attributes() => new Dictionary<string, string>
    {
        [AlertAttribute] = Kind,
        ["execution_id"] = ExecutionId.ToString("D"),
        ["job_name"] = JobName,
        ["stage"] = Stage.ToWire(),
    };

    /// <summary>Parses and validates the event; a malformed one is a permanent rejection naming the field.</summary>
    public static TakeoverAlertEvent Parse(ReadOnlyMemory<byte> utf8)
    {
        using var doc = PipelineJson.ParseObject(utf8);
        var root = doc.RootElement;
        if (PipelineJson.RequiredString(root, "kind") != Kind)
        {
            throw new MessageRejectedException("kind", $"must be '{Kind}'");
        }

        var stageName = PipelineJson.RequiredString(root, "stage");
        if (!StageNames.TryParse(stageName, out var stage))
        {
            throw new MessageRejectedException("stage", $"'{stageName}' is not bronze, silver or gold");
        }

        return new TakeoverAlertEvent(
            PipelineJson.RequiredUuid(root, "execution_id"),
            StartMessage.ValidJobName(PipelineJson.RequiredString(root, "job_name")),
            stage,
            PositiveInt(root, "attempt"),
            PositiveInt(root, "stale_after_seconds"),
            PipelineJson.OptionalUtcTimestamp(root, "detected_at", "detected_at")
                ?? throw new MessageRejectedException("detected_at", "is required"),
            PipelineJson.OptionalUtcTimestamp(root, "last_heartbeat_at", "last_heartbeat_at"));
    }

    private static int PositiveInt(JsonElement root, string field) =>
        root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n > 0
            ? n
            : throw new MessageRejectedException(field, "must be a positive integer");
}
