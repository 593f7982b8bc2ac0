using FinancialPipeline.Core.Market;
using Parquet;
using Parquet.Schema;

namespace FinancialPipeline.Core.Parquet;

/// <summary>
/// The pinned Parquet schema shared by bronze and silver objects (silver's <c>date</c> lives in the Hive path,
/// not in the file), and the quarantine schema which adds <c>rule</c>, <c>reason</c> and <c>rejected_by</c>.
/// Timestamps are INT64 TIMESTAMP(MICROS, UTC) so BigQuery and DuckDB read them as TIMESTAMP.
/// </summary>
public static class BarParquet
{
    public const int DefaultRowGroupSize = 256 * 1024;

    private static readonly DateTimeDataField BarTs = new("bar_ts", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: false);
    private static readonly DataField<string> Ticker = new("ticker", false);
    private static readonly DataField<double> Open = new("open", false);
    private static readonly DataField<double> High = new("high", false);
    private static readonly DataField<double> Low = new("low", false);
    private static readonly DataField<double> Close = new("close", false);
    private static readonly DataField<double?> AdjClose = new("adj_close", true);
    private static readonly DataField<long> Volume = new("volume", false);
    private static readonly DataField<string> ExecutionId = new("execution_id", false);
    private static readonly DateTimeDataField IngestedAt = new("ingested_at", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: false);
    private static readonly DataField<string> Provider = new("provider", false);
    private static readonly DataField<string> Rule = new("rule", false);
    private static readonly DataField<string> Reason = new("reason", false);
    private static readonly DataField<string> RejectedBy = new("rejected_by", false);

    public static ParquetSchema Schema { get; } = new(BarTs, Ticker, Open, High, Low, Close, AdjClose, Volume, ExecutionId, IngestedAt, Provider);

    public static ParquetSchema RejectedSchema { get; } = new(BarTs, Ticker, Open, High, Low, Close, AdjClose, Volume, ExecutionId, IngestedAt, Provider, Rule, Reason, RejectedBy);

    private static ParquetOptions WriterOptions => new() { CompressionMethod = CompressionMethod.Snappy };

    public static async Task WriteAsync(Stream destination, IReadOnlyList<BarRecord> rows, int rowGroupSize = DefaultRowGroupSize, CancellationToken cancellationToken = default)
    {
        await using var writer = await ParquetWriter.CreateAsync(Schema, destination, WriterOptions, append: false, cancellationToken);
        for (var offset = 0; offset == 0 || offset < rows.Count; offset += rowGroupSize)
        {
            var count = Math.Min(rowGroupSize, rows.Count - offset);
            using var group = writer.CreateRowGroup();
            await WriteBarColumnsAsync(group, rows, offset, count, r => r, cancellationToken);
            if (rows.Count == 0)
            {
                break;
            }
        }
    }

    public static async Task WriteRejectedAsync(Stream destination, IReadOnlyList<RejectedRecord> rows, CancellationToken cancellationToken = default)
    {
        await using var writer = await ParquetWriter.CreateAsync(RejectedSchema, destination, WriterOptions, append: false, cancellationToken);
        using var group = writer.CreateRowGroup();
        await WriteBarColumnsAsync(group, rows, 0, rows.Count, r => r.Record, cancellationToken);
        await group.WriteAsync(Rule, rows.Select(r => r.Rule).ToArray());
        await group.WriteAsync(Reason, rows.Select(r => r.Reason).ToArray());
        await group.WriteAsync(RejectedBy, rows.Select(r => r.RejectedBy.ToString("D")).ToArray());
    }

    /// <summary>Reads every row; throws <see cref="InvalidDataException"/> naming the column when the schema differs.</summary>
    public static async Task<List<BarRecord>> ReadAsync(Stream source, CancellationToken cancellationToken = default)
    {
        var result = new List<BarRecord>();
        await foreach (var group in ReadRowGroupsAsync(source, cancellationToken))
        {
            result.AddRange(group);
        }

        return result;
    }

    /// <summary>Streams the file one row group at a time, so memory is bounded by the row-group size.</summary>
    public static async IAsyncEnumerable<BarRecord[]> ReadRowGroupsAsync(Stream source, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var reader = await ParquetReader.CreateAsync(source, new ParquetOptions(), leaveStreamOpen: true, cancellationToken);
        foreach (var field in Schema.DataFields)
        {
            if (reader.Schema.FindDataField(field.Name) is not { } found || found.ClrType != field.ClrType)
            {
                throw new InvalidDataException($"parquet column '{field.Name}' is missing or not {field.ClrType.Name}");
            }
        }

        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var n = checked((int)group.RowCount);
            var ts = new DateTime[n];
            var ticker = new string?[n];
            var open = new double[n];
            var high = new double[n];
            var low = new double[n];
            var close = new double[n];
            var adj = new double?[n];
            var volume = new long[n];
            var exec = new string?[n];
            var ingested = new DateTime[n];
            var provider = new string?[n];
            await group.ReadAsync(BarTs, ts.AsMemory(), null, cancellationToken);
            await group.ReadAsync(Ticker, ticker.AsMemory(), null, cancellationToken);
            await group.ReadAsync(Open, open.AsMemory(), null, cancellationToken);
            await group.ReadAsync(High, high.AsMemory(), null, cancellationToken);
            await group.ReadAsync(Low, low.AsMemory(), null, cancellationToken);
            await group.ReadAsync(Close, close.AsMemory(), null, cancellationToken);
            await group.ReadAsync(AdjClose, adj.AsMemory(), null, cancellationToken);
            await group.ReadAsync(Volume, volume.AsMemory(), null, cancellationToken);
            await group.ReadAsync(ExecutionId, exec.AsMemory(), null, cancellationToken);
            await group.ReadAsync(IngestedAt, ingested.AsMemory(), null, cancellationToken);
            await group.ReadAsync(Provider, provider.AsMemory(), null, cancellationToken);
            var rows = new BarRecord[n];
            for (var i = 0; i < n; i++)
            {
                if (!Guid.TryParse(exec[i], out var executionId))
                {
                    throw new InvalidDataException($"parquet row {i} of row group {g}: execution_id '{exec[i]}' is not a UUID");
                }

                rows[i] = new BarRecord(
                    new QuoteBar(Utc(ts[i]), ticker[i] ?? throw new InvalidDataException($"parquet row {i}: ticker is null"), open[i], high[i], low[i], close[i], adj[i], volume[i]),
                    executionId,
                    Utc(ingested[i]),
                    provider[i] ?? string.Empty);
            }

            yield return rows;
        }
    }

    private static async Task WriteBarColumnsAsync<T>(ParquetRowGroupWriter group, IReadOnlyList<T> rows, int offset, int count, Func<T, BarRecord> select, CancellationToken ct)
    {
        var ts = new DateTime[count];
        var ticker = new string[count];
        var open = new double[count];
        var high = new double[count];
        var low = new double[count];
        var close = new double[count];
        var adj = new double?[count];
        var volume = new long[count];
        var exec = new string[count];
        var ingested = new DateTime[count];
        var provider = new string[count];
        for (var i = 0; i < count; i++)
        {
            var r = select(rows[offset + i]);
            ts[i] = r.Bar.Timestamp.UtcDateTime;
            ticker[i] = r.Bar.Ticker;
            open[i] = r.Bar.Open;
            high[i] = r.Bar.High;
            low[i] = r.Bar.Low;
            close[i] = r.Bar.Close;
            adj[i] = r.Bar.AdjClose;
            volume[i] = r.Bar.Volume;
            exec[i] = r.ExecutionId.ToString("D");
            ingested[i] = r.IngestedAt.UtcDateTime;
            provider[i] = r.Provider;
        }

        await group.WriteAsync<DateTime>(BarTs, ts, null, null, ct);
        await group.WriteAsync(Ticker, ticker);
        await group.WriteAsync<double>(Open, open, null, null, ct);
        await group.WriteAsync<double>(High, high, null, null, ct);
        await group.WriteAsync<double>(Low, low, null, null, ct);
        await group.WriteAsync<double>(Close, close, null, null, ct);
        await group.WriteAsync<double>(AdjClose, adj, null, null, ct);
        await group.WriteAsync<long>(Volume, volume, null, null, ct);
        await group.WriteAsync(ExecutionId, exec);
        await group.WriteAsync<DateTime>(IngestedAt, ingested, null, null, ct);
        await group.WriteAsync(Provider, provider);
    }

    private static DateTimeOffset Utc(DateTime value) =>
        new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
