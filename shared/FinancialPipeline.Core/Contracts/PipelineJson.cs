using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FinancialPipeline.Core.Contracts;

/// <summary>One JSON convention for every message the pipeline writes: snake_case, UTC ISO-8601.</summary>
public static class PipelineJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    /// <summary>Parses UTF-8 JSON into an object root or rejects the message naming what is wrong.</summary>
    public static JsonDocument ParseObject(ReadOnlyMemory<byte> utf8)
    {
        if (utf8.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            // JsonDocument would say "…does not contain any JSON tokens…": a message with attributes and no data.
            throw new MessageRejectedException("data", utf8.IsEmpty
                ? "is empty: the message has no data (attributes only, if any), and a pipeline message is a JSON object in its data"
                : $"is blank: {utf8.Length} byte(s) of whitespace, no JSON object");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw new MessageRejectedException("data", $"not valid JSON ({ex.Message})");
        }

        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = doc.RootElement.ValueKind;
            doc.Dispose();
            throw new MessageRejectedException("data", $"expected a JSON object, got {kind}");
        }

        return doc;
    }

    /// <summary>
    /// The rest of a message's validation once its execution id has parsed: a rejection from <paramref name="parse"/>
    /// names that execution, so it is recorded under it instead of under no execution at all.
    /// </summary>
    public static T ForExecution<T>(Guid executionId, Func<T> parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        try
        {
            return parse();
        }
        catch (MessageRejectedException ex) when (ex.ExecutionId is null)
        {
            throw ex.Of(executionId);
        }
    }

    public static string RequiredString(JsonElement obj, string field)
    {
        if (!obj.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw new MessageRejectedException(field, "is required");
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new MessageRejectedException(field, $"must be a string, got {value.ValueKind}");
        }

        var s = value.GetString()!;
        if (string.IsNullOrWhiteSpace(s))
        {
            throw new MessageRejectedException(field, "must not be empty");
        }

        return s;
    }

    public static Guid RequiredUuid(JsonElement obj, string field)
    {
        var s = RequiredString(obj, field);
        if (!Guid.TryParseExact(s, "D", out var id) || id == Guid.Empty)
        {
            throw new MessageRejectedException(field, $"'{Truncate(s)}' is not a UUID");
        }

        return id;
    }

    public static DateTimeOffset? OptionalUtcTimestamp(JsonElement obj, string field, string path)
    {
        if (!obj.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return UtcTimestamp(value, path);
    }

    public static DateTimeOffset UtcTimestamp(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new MessageRejectedException(path, $"must be an RFC 3339 timestamp string, got {value.ValueKind}");
        }

        var s = value.GetString()!;
        if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out var ts))
        {
            throw new MessageRejectedException(path, $"'{Truncate(s)}' is not an RFC 3339 timestamp");
        }

        if (!s.EndsWith('Z') && !s.EndsWith("+00:00", StringComparison.Ordinal))
        {
            throw new MessageRejectedException(path, $"'{Truncate(s)}' must be UTC (end in Z)");
        }

        return ts.ToUniversalTime();
    }

    public static string FormatUtc(DateTimeOffset value) =>
        value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    private static string Truncate(string s) => s.Length <= 64 ? s : string.Concat(s.AsSpan(0, 64), "…");
}
