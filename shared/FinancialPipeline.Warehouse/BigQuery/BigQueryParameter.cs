using System.Collections;
using System.Globalization;
using System.Text.Json.Nodes;

namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>GoogleSQL parameter types this client can send; names follow Google.Cloud.BigQuery.V2.BigQueryDbType.</summary>
public enum BigQueryDbType
{
    String,
    Int64,
    Float64,
    Bool,
    Timestamp,
    Date,
    Array,
}

/// <summary>
/// A named query parameter (<c>@name</c> in the SQL); shaped like Google.Cloud.BigQuery.V2.BigQueryParameter.
/// Values: STRING string; INT64 long/int; FLOAT64 double/float; BOOL bool; TIMESTAMP DateTimeOffset or UTC DateTime;
/// DATE DateOnly; ARRAY any IEnumerable of those with <see cref="ArrayElementType"/> set. A null scalar is SQL NULL.
/// </summary>
public sealed class BigQueryParameter
{
    public BigQueryParameter(string name, BigQueryDbType type, object? value)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        Type = type;
        Value = value;
    }

    public string Name { get; }

    public BigQueryDbType Type { get; }

    public object? Value { get; }

    /// <summary>Element type when <see cref="Type"/> is <see cref="BigQueryDbType.Array"/>.</summary>
    public BigQueryDbType? ArrayElementType { get; init; }

    public static BigQueryParameter String(string name, string? value) => new(name, BigQueryDbType.String, value);

    public static BigQueryParameter Int64(string name, long? value) => new(name, BigQueryDbType.Int64, value);

    public static BigQueryParameter Float64(string name, double? value) => new(name, BigQueryDbType.Float64, value);

    public static BigQueryParameter Bool(string name, bool? value) => new(name, BigQueryDbType.Bool, value);

    public static BigQueryParameter Timestamp(string name, DateTimeOffset? value) => new(name, BigQueryDbType.Timestamp, value);

    public static BigQueryParameter Date(string name, DateOnly? value) => new(name, BigQueryDbType.Date, value);

    public static BigQueryParameter StringArray(string name, IEnumerable<string> values) =>
        new(name, BigQueryDbType.Array, values) { ArrayElementType = BigQueryDbType.String };

    public static BigQueryParameter DateArray(string name, IEnumerable<DateOnly> values) =>
        new(name, BigQueryDbType.Array, values) { ArrayElementType = BigQueryDbType.Date };

    /// <summary>The REST <c>QueryParameter</c> JSON: <c>{name, parameterType:{type[,arrayType]}, parameterValue:{value|arrayValues}}</c>.</summary>
    internal JsonObject ToJson()
    {
        if (!BigQueryNames.IsValidParameterName(Name))
        {
            throw new ArgumentException($"Query parameter name '{Name}' must be letters, digits or underscores, not starting with a digit");
        }

        if (Type != BigQueryDbType.Array)
        {
            if (ArrayElementType is not null)
            {
                throw new ArgumentException($"Query parameter '{Name}' of type {Type} must not set ArrayElementType");
            }

            var value = new JsonObject();
            if (Value is not null)
            {
                value["value"] = FormatScalar(Name, Type, Value);
            }

            return new JsonObject
            {
                ["name"] = Name,
                ["parameterType"] = new JsonObject { ["type"] = TypeName(Type) },
                ["parameterValue"] = value,
            };
        }

        if (ArrayElementType is not { } elementType || elementType == BigQueryDbType.Array)
        {
            throw new ArgumentException($"Query parameter '{Name}' is an ARRAY and needs a scalar ArrayElementType");
        }

        if (Value is not IEnumerable items || Value is string)
        {
            throw new ArgumentException($"Query parameter '{Name}' is an ARRAY and needs an IEnumerable value, got {Value?.GetType().Name ?? "null"}");
        }

        var arrayValues = new JsonArray();
        foreach (var item in items)
        {
            if (item is null)
            {
                throw new ArgumentException($"Query parameter '{Name}': BigQuery arrays cannot hold NULL elements");
            }

            arrayValues.Add(new JsonObject { ["value"] = FormatScalar(Name, elementType, item) });
        }

        return new JsonObject
        {
            ["name"] = Name,
            ["parameterType"] = new JsonObject
            {
                ["type"] = "ARRAY",
                ["arrayType"] = new JsonObject { ["type"] = TypeName(elementType) },
            },
            ["parameterValue"] = new JsonObject { ["arrayValues"] = arrayValues },
        };
    }

    internal static string TypeName(BigQueryDbType type) => type switch
    {
        BigQueryDbType.String => "STRING",
        BigQueryDbType.Int64 => "INT64",
        BigQueryDbType.Float64 => "FLOAT64",
        BigQueryDbType.Bool => "BOOL",
        BigQueryDbType.Timestamp => "TIMESTAMP",
        BigQueryDbType.Date => "DATE",
        BigQueryDbType.Array => "ARRAY",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported BigQuery type"),
    };

    /// <summary>Parameter values travel as strings; these are BigQuery's canonical literal forms.</summary>
    private static string FormatScalar(string name, BigQueryDbType type, object value) => (type, value) switch
    {
        (BigQueryDbType.String, string s) => s,
        (BigQueryDbType.Int64, long l) => l.ToString(CultureInfo.InvariantCulture),
        (BigQueryDbType.Int64, int i) => i.ToString(CultureInfo.InvariantCulture),
        (BigQueryDbType.Float64, double d) => FormatDouble(d),
        (BigQueryDbType.Float64, float f) => FormatDouble(f),
        (BigQueryDbType.Bool, bool b) => b ? "true" : "false",
        (BigQueryDbType.Timestamp, DateTimeOffset ts) => FormatTimestamp(ts),
        (BigQueryDbType.Timestamp, DateTime { Kind: DateTimeKind.Utc } dt) => FormatTimestamp(new DateTimeOffset(dt)),
        (BigQueryDbType.Date, DateOnly d) => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        _ => throw new ArgumentException(
            $"Query parameter '{name}': a {value.GetType().Name} value cannot be sent as {TypeName(type)}"
            + (value is DateTime ? " (DateTime must be UTC)" : "")),
    };

    private static string FormatDouble(double d) =>
        double.IsNaN(d) ? "NaN"
        : double.IsPositiveInfinity(d) ? "Infinity"
        : double.IsNegativeInfinity(d) ? "-Infinity"
        : d.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Microsecond precision (BigQuery's), always UTC with an explicit offset.</summary>
    private static string FormatTimestamp(DateTimeOffset ts) =>
        ts.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);
}
