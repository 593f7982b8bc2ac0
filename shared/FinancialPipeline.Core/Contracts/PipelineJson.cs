using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace FinancialPipeline.Core.Contracts;

/// <summary>One JSON convention for every message the pipeline writes: snake_case, UTC ISO-8601.</summary>
public static partial class PipelineJson
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

        if (FirstDuplicateProperty(doc.RootElement, path: null) is { } duplicate)
        {
            // Named under the message's execution, as any rejection after its id parsed, unless the id is what is doubled.
            var executionId = duplicate != "execution_id"
                && doc.RootElement.TryGetProperty("execution_id", out var id) && id.ValueKind == JsonValueKind.String
                && Guid.TryParseExact(id.GetString(), "D", out var parsed) && parsed != Guid.Empty ? parsed : (Guid?)null;
            doc.Dispose();
            var rejected = new MessageRejectedException(duplicate, "is given twice in the same object; which value was meant is ambiguous");
            throw executionId is { } known ? rejected.Of(known) : rejected;
        }

        return doc;
    }

    /// <summary>
    /// The path of the first property named twice in one object (which <c>execution_id</c>?), where a reader would
    /// silently take the last one; null when there is none. Walked here rather than left to the parser's own option,
    /// whose error names neither the object nor the field. A name that is not valid UTF-16 is left to the readers,
    /// which reject it naming their field.
    /// </summary>
    private static string? FirstDuplicateProperty(JsonElement element, string? path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        continue;
                    }

                    var field = path is null ? name : $"{path}.{name}";
                    if (!seen.Add(name))
                    {
                        return field;
                    }

                    if (FirstDuplicateProperty(property.Value, field) is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (FirstDuplicateProperty(item, $"{path}[{i++}]") is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    /// <summary>
    /// A JSON string's value. JSON that parses may still escape an unpaired surrogate (<c>"\ud800"</c>), which
    /// System.Text.Json refuses to read as a .NET string (InvalidOperationException): as permanent as invalid JSON, so
    /// rejected naming <paramref name="field"/> instead of failing with a 500 until the message is dead-lettered.
    /// </summary>
    public static string Text(JsonElement value, string field)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new MessageRejectedException(field, $"is not valid UTF-16 text ({ex.Message})");
        }
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

        var s = Text(value, field);
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

    /// <summary>
    /// An RFC 3339 date-time in UTC: <c>yyyy-MM-ddTHH:mm:ss</c>, an optional fraction of up to 7 digits (100 ns, the
    /// finest a <see cref="DateTimeOffset"/> holds), then <c>Z</c>, <c>+00:00</c> or <c>-00:00</c> (RFC 3339's "UTC,
    /// local offset unknown"); <c>T</c> and <c>Z</c> may be lower case, as RFC 3339 allows. Nothing else: the BCL's
    /// lenient parser read <c>10:00Z</c> as 10:00 on the machine's current date and <c>01/02/2026Z</c> month first.
    /// </summary>
    public static DateTimeOffset UtcTimestamp(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new MessageRejectedException(path, $"must be an RFC 3339 timestamp string, got {value.ValueKind}");
        }

        var s = Text(value, path);
        var match = Rfc3339Pattern().Match(s);
        if (!match.Success
            || !DateTime.TryParseExact(UpperT(match.Groups["local"].Value), "yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFF", CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            throw new MessageRejectedException(path, $"'{Truncate(s)}' is not an RFC 3339 timestamp (yyyy-MM-ddTHH:mm:ss[.fffffff]Z)");
        }

        if (match.Groups["offset"].Value is not ("Z" or "z" or "+00:00" or "-00:00"))
        {
            throw new MessageRejectedException(path, $"'{Truncate(s)}' must be UTC (end in Z)");
        }

        return new DateTimeOffset(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), TimeSpan.Zero);
    }

    public static string FormatUtc(DateTimeOffset value) =>
        value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    private static string UpperT(string local) => string.Concat(local.AsSpan(0, 10), "T", local.AsSpan(11));

    /// <summary>At most 64 characters of <paramref name="s"/>, for a rejection that quotes a value.</summary>
    internal static string Truncate(string s) => s.Length <= 64 ? s : string.Concat(s.AsSpan(0, 64), "…");

    /// <summary>RFC 3339's date-time (section 5.6), ASCII digits only; the lower-case t is normalised for the parse.</summary>
    [GeneratedRegex(@"^(?<local>[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,7})?)(?<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})\z", RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339Pattern();
}
