using System.Text.Json;
using System.Text.Json.Serialization;
using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Storage.Gcs;

/// <summary>The fields of the Object resource the store reads; int64 fields arrive as JSON strings.</summary>
internal sealed record GcsObjectResource(
    [property: JsonPropertyName("bucket")] string? Bucket,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("generation")] long Generation,
    [property: JsonPropertyName("updated")] DateTimeOffset? Updated,
    [property: JsonPropertyName("timeCreated")] DateTimeOffset? TimeCreated)
{
    public StoredObject ToStoredObject(string fallbackBucket, string fallbackName)
    {
        var bucket = Bucket ?? fallbackBucket;
        var name = Name ?? fallbackName;
        return new StoredObject(bucket, name, Size, Updated ?? TimeCreated ?? DateTimeOffset.MinValue, $"gs://{bucket}/{name}", Generation);
    }
}

internal sealed record GcsObjectList(
    [property: JsonPropertyName("items")] IReadOnlyList<GcsObjectResource>? Items,
    [property: JsonPropertyName("nextPageToken")] string? NextPageToken);

internal sealed record GcsErrorBody([property: JsonPropertyName("error")] GcsError? Error);

internal sealed record GcsError(
    [property: JsonPropertyName("code")] int Code,
    [property: JsonPropertyName("message")] string? Message);

[JsonSourceGenerationOptions(NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(GcsObjectResource))]
[JsonSerializable(typeof(GcsObjectList))]
[JsonSerializable(typeof(GcsErrorBody))]
internal sealed partial class GcsJsonContext : JsonSerializerContext
{
    /// <summary>Google's error message from an error body: <c>error.message</c>, else the text itself, shortened.</summary>
    public static string? ErrorMessage(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            var parsed = JsonSerializer.Deserialize(body, Default.GcsErrorBody);
            if (parsed?.Error?.Message is { Length: > 0 } message)
            {
                return message;
            }
        }
        catch (JsonException)
        {
            // Not Google's JSON error shape (a proxy or emulator page): fall back to the text.
        }

        var text = body.Trim();
        return text.Length <= 500 ? text : text[..500] + "…";
    }
}
