using System.Text.Json.Nodes;
using FinancialPipeline.Warehouse.BigQuery;

namespace FinancialPipeline.Warehouse.Tests;

public sealed class BigQueryParameterTests
{
    public static TheoryData<BigQueryParameter, string> Serialized => new()
    {
        { BigQueryParameter.String("s", "O'Brien \"x\""), """{"name":"s","parameterType":{"type":"STRING"},"parameterValue":{"value":"O'Brien \"x\""}}""" },
        { BigQueryParameter.Int64("i", long.MinValue), """{"name":"i","parameterType":{"type":"INT64"},"parameterValue":{"value":"-9223372036854775808"}}""" },
        { new BigQueryParameter("i32", BigQueryDbType.Int64, 42), """{"name":"i32","parameterType":{"type":"INT64"},"parameterValue":{"value":"42"}}""" },
        { BigQueryParameter.Float64("f", 0.1), """{"name":"f","parameterType":{"type":"FLOAT64"},"parameterValue":{"value":"0.1"}}""" },
        { BigQueryParameter.Float64("big", 1.5e300), """{"name":"big","parameterType":{"type":"FLOAT64"},"parameterValue":{"value":"1.5E+300"}}""" },
        { BigQueryParameter.Float64("nan", double.NaN), """{"name":"nan","parameterType":{"type":"FLOAT64"},"parameterValue":{"value":"NaN"}}""" },
        { BigQueryParameter.Float64("inf", double.NegativeInfinity), """{"name":"inf","parameterType":{"type":"FLOAT64"},"parameterValue":{"value":"-Infinity"}}""" },
        { BigQueryParameter.Bool("b", true), """{"name":"b","parameterType":{"type":"BOOL"},"parameterValue":{"value":"true"}}""" },
        { BigQueryParameter.Bool("nb", false), """{"name":"nb","parameterType":{"type":"BOOL"},"parameterValue":{"value":"false"}}""" },
        {
            BigQueryParameter.Timestamp("t", new DateTimeOffset(2024, 1, 2, 9, 30, 0, TimeSpan.FromHours(-5)).AddTicks(1234567)),
            """{"name":"t","parameterType":{"type":"TIMESTAMP"},"parameterValue":{"value":"2024-01-02 14:30:00.123456+00:00"}}"""
        },
        {
            new BigQueryParameter("tu", BigQueryDbType.Timestamp, new DateTime(2024, 1, 2, 14, 30, 0, DateTimeKind.Utc)),
            """{"name":"tu","parameterType":{"type":"TIMESTAMP"},"parameterValue":{"value":"2024-01-02 14:30:00.000000+00:00"}}"""
        },
        { BigQueryParameter.Date("d", new DateOnly(2024, 1, 2)), """{"name":"d","parameterType":{"type":"DATE"},"parameterValue":{"value":"2024-01-02"}}""" },
        { BigQueryParameter.String("nul", null), """{"name":"nul","parameterType":{"type":"STRING"},"parameterValue":{}}""" },
        {
            BigQueryParameter.StringArray("syms", ["AAPL", "MSFT"]),
            """{"name":"syms","parameterType":{"type":"ARRAY","arrayType":{"type":"STRING"}},"parameterValue":{"arrayValues":[{"value":"AAPL"},{"value":"MSFT"}]}}"""
        },
        {
            BigQueryParameter.DateArray("days", [new DateOnly(2024, 1, 2), new DateOnly(2024, 2, 29)]),
            """{"name":"days","parameterType":{"type":"ARRAY","arrayType":{"type":"DATE"}},"parameterValue":{"arrayValues":[{"value":"2024-01-02"},{"value":"2024-02-29"}]}}"""
        },
        {
            BigQueryParameter.StringArray("none", []),
            """{"name":"none","parameterType":{"type":"ARRAY","arrayType":{"type":"STRING"}},"parameterValue":{"arrayValues":[]}}"""
        },
    };

    [Theory]
    [MemberData(nameof(Serialized))]
    public void Serializes_to_the_rest_query_parameter_shape(BigQueryParameter parameter, string json)
    {
        var actual = parameter.ToJson();
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(json), actual), actual.ToJsonString());
    }

    [Fact]
    public void Local_datetime_timestamp_is_rejected_rather_than_guessed()
    {
        var p = new BigQueryParameter("t", BigQueryDbType.Timestamp, new DateTime(2024, 1, 2, 9, 0, 0, DateTimeKind.Local));
        var ex = Assert.Throws<ArgumentException>(() => p.ToJson());
        Assert.Contains("UTC", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Value_of_the_wrong_clr_type_is_rejected_naming_the_parameter()
    {
        var ex = Assert.Throws<ArgumentException>(() => new BigQueryParameter("d", BigQueryDbType.Date, "2024-01-02").ToJson());
        Assert.Contains("'d'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Arrays_need_an_element_type_and_no_null_elements()
    {
        Assert.Throws<ArgumentException>(() => new BigQueryParameter("a", BigQueryDbType.Array, new[] { "x" }).ToJson());
        Assert.Throws<ArgumentException>(() => BigQueryParameter.StringArray("a", ["x", null!]).ToJson());
        Assert.Throws<ArgumentException>(() => new BigQueryParameter("a", BigQueryDbType.Array, "abc") { ArrayElementType = BigQueryDbType.String }.ToJson());
    }

    [Theory]
    [InlineData("1abc")]
    [InlineData("a b")]
    [InlineData("x;DROP")]
    [InlineData("")]
    public void Invalid_names_are_rejected(string name) =>
        Assert.Throws<ArgumentException>(() => BigQueryParameter.String(name, "v").ToJson());
}
