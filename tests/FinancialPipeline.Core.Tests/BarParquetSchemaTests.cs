using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Tests.Shared;
using Parquet;
using Parquet.Schema;

namespace FinancialPipeline.Core.Tests;

/// <summary>Reading bar objects of the current schema and of the one before <c>currency</c>/<c>exchange_timezone</c>.</summary>
public sealed class BarParquetSchemaTests
{
    private static readonly Guid Execution = Guid.Parse("3f2b9c1e-5a47-4d2e-8b1c-9e0f6a7d4c21");
    private static readonly DateTimeOffset At = new(2026, 11, 23, 14, 30, 0, TimeSpan.Zero);

    [Fact]
    public async Task CurrentObjects_RoundTripTheCurrencyAndTimeZone_NullIncluded()
    {
        BarRecord[] rows = [Row("AAPL", "USD", "America/New_York"), Row("7203.T", "JPY", "Asia/Tokyo"), Row("SYN", null, null)];

        Assert.Equal(rows, await WrittenAndReadAsync((stream, r) => BarParquet.WriteAsync(stream, r), rows));
    }

    [Fact]
    public async Task ObjectsWrittenBeforeTheColumns_ReadWithBothNull_AndEveryOtherValueKept()
    {
        BarRecord[] rows = [Row("AAPL", null, null), Row("MSFT", null, null)];

        Assert.Equal(rows, await WrittenAndReadAsync(PreCurrencyParquet.WriteAsync, rows));
    }

    [Fact]
    public async Task AnObjectMissingAnOriginalColumn_IsStillRejected_NamingIt()
    {
        var schema = new ParquetSchema(BarParquet.BarTs, BarParquet.Ticker);
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(schema, buffer))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<DateTime>(BarParquet.BarTs, new[] { At.UtcDateTime }.AsMemory(), null, null, default);
            await group.WriteAsync(BarParquet.Ticker, new string?[] { "AAPL" });
        }

        buffer.Position = 0;
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => BarParquet.ReadAsync(buffer));

        Assert.Equal("parquet column 'open' is missing or not Double", error.Message);
    }

    [Fact]
    public async Task ACurrencyColumnOfAnotherType_IsRejected_NamingIt()
    {
        var currency = new DataField<int>("currency", false);
        var schema = new ParquetSchema([.. PreCurrencyParquet.Schema.DataFields, currency]);
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(schema, buffer))
        {
            using var group = writer.CreateRowGroup();
            await PreCurrencyParquet.WriteBarsAsync(group, [Row("AAPL", null, null)]);
            await group.WriteAsync<int>(currency, new[] { 840 }.AsMemory(), null, null, default);
        }

        buffer.Position = 0;
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => BarParquet.ReadAsync(buffer));

        Assert.StartsWith("parquet column 'currency' is missing or not ", error.Message, StringComparison.Ordinal);
    }

    private static async Task<List<BarRecord>> WrittenAndReadAsync(Func<Stream, IReadOnlyList<BarRecord>, Task> write, BarRecord[] rows)
    {
        using var buffer = new MemoryStream();
        await write(buffer, rows);
        buffer.Position = 0;
        return await BarParquet.ReadAsync(buffer);
    }

    private static BarRecord Row(string ticker, string? currency, string? zone) =>
        new(new QuoteBar(At, ticker, 10, 11, 9, 10.5, null, 100, currency, zone), Execution, At.AddHours(2), "yahoo");
}
