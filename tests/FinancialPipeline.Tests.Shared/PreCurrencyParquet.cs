using FinancialPipeline.Core.Parquet;
using Parquet;
using Parquet.Schema;

namespace FinancialPipeline.Tests.Shared;

/// <summary>
/// Writes bronze/silver (and quarantine) objects in the schema the product wrote before <c>currency</c> and
/// <c>exchange_timezone</c> existed: the eleven bar columns, so tests can check that such objects stay readable.
/// </summary>
public static class PreCurrencyParquet
{
    private static readonly DataField[] BarFields =
    [
        BarParquet.BarTs, BarParquet.Ticker, BarParquet.Open, BarParquet.High, BarParquet.Low, BarParquet.Close,
        BarParquet.AdjClose, BarParquet.Volume, BarParquet.ExecutionId, BarParquet.IngestedAt, BarParquet.Provider,
    ];

    public static ParquetSchema Schema { get; } = new(BarFields);

    public static ParquetSchema RejectedSchema { get; } = new([.. BarFields, BarParquet.Rule, BarParquet.Reason, BarParquet.RejectedBy]);

    public static async Task WriteAsync(Stream destination, IReadOnlyList<BarRecord> rows)
    {
        await using var writer = await ParquetWriter.CreateAsync(Schema, destination, BarParquet.WriterOptions);
        using var group = writer.CreateRowGroup();
        await WriteBarsAsync(group, rows);
    }

    /// <summary>A quarantine object of the old schema: every row broke <paramref name="rule"/>.</summary>
    public static async Task WriteRejectedAsync(Stream destination, IReadOnlyList<BarRecord> rows, string rule, Guid rejectedBy)
    {
        await using var writer = await ParquetWriter.CreateAsync(RejectedSchema, destination, BarParquet.WriterOptions);
        using var group = writer.CreateRowGroup();
        await WriteBarsAsync(group, rows);
        await group.WriteAsync(BarParquet.Rule, Enumerable.Repeat<string?>(rule, rows.Count).ToArray());
        await group.WriteAsync(BarParquet.Reason, Enumerable.Repeat<string?>(rule + " (old schema)", rows.Count).ToArray());
        await group.WriteAsync(BarParquet.RejectedBy, Enumerable.Repeat<string?>(rejectedBy.ToString("D"), rows.Count).ToArray());
    }

    /// <summary>The eleven bar columns of one row group.</summary>
    public static async Task WriteBarsAsync(ParquetRowGroupWriter group, IReadOnlyList<BarRecord> rows)
    {
        await group.WriteAsync<DateTime>(BarParquet.BarTs, rows.Select(r => r.Bar.Timestamp.UtcDateTime).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync(BarParquet.Ticker, rows.Select(r => (string?)r.Bar.Ticker).ToArray());
        await group.WriteAsync<double>(BarParquet.Open, rows.Select(r => r.Bar.Open).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync<double>(BarParquet.High, rows.Select(r => r.Bar.High).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync<double>(BarParquet.Low, rows.Select(r => r.Bar.Low).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync<double>(BarParquet.Close, rows.Select(r => r.Bar.Close).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync<double>(BarParquet.AdjClose, rows.Select(r => r.Bar.AdjClose).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync<long>(BarParquet.Volume, rows.Select(r => r.Bar.Volume).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync(BarParquet.ExecutionId, rows.Select(r => (string?)r.ExecutionId.ToString("D")).ToArray());
        await group.WriteAsync<DateTime>(BarParquet.IngestedAt, rows.Select(r => r.IngestedAt.UtcDateTime).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync(BarParquet.Provider, rows.Select(r => (string?)r.Provider).ToArray());
    }
}
