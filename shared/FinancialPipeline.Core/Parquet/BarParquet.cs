using FinancialPipeline.Core.Market;
using Parquet;
using Parquet.Schema;

namespace FinancialPipeline.Core.Parquet;

/// <summary>
/// The pinned Parquet schema shared by bronze and silver objects (silver's <c>date</c> lives in the Hive path,
/// not in the file), and the quarantine schema which adds <c>rule</c>, <c>reason</c> and <c>rejected_by</c>.
/// Timestamps are INT64 TIMESTAMP(MILLIS, UTC) so BigQuery and DuckDB read them as TIMESTAMP. Not MICROS: Parquet.Net
/// 6.1 writes a MICROS column's min/max statistics in milliseconds (aloneguid/parquet-dotnet#769), so every file's
/// bar_ts looked like January 1970 to a reader that prunes on statistics (DuckDB skipped whole files under
/// <c>ORDER BY bar_ts DESC LIMIT n</c>). Bars start on the minute and ingestion times need no finer grain.
/// </summary>
public static class BarParquet
{
    public const int DefaultRowGroupSize = 256 * 1024;

    public static readonly DateTimeDataField BarTs = new("bar_ts", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Millis, isNullable: false);
    public static readonly DataField<string> Ticker = new("ticker", false);
    public static readonly DataField<double> Open = new("open", false);
    public static readonly DataField<double> High = new("high", false);
    public static readonly DataField<double> Low = new("low", false);
    public static readonly DataField<double> Close = new("close", false);
    public static readonly DataField<double?> AdjClose = new("adj_close", true);
    public static readonly DataField<long> Volume = new("volume", false);
    public static readonly DataField<string> ExecutionId = new("execution_id", false);
    public static readonly DateTimeDataField IngestedAt = new("ingested_at", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Millis, isNullable: false);
    public static readonly DataField<string> Provider = new("provider", false);
    public static readonly DataField<string> Currency = new("currency", true);
    public static readonly DataField<string> ExchangeTimezone = new("exchange_timezone", true);
    public static readonly DataField<string> Rule = new("rule", false);
    public static readonly DataField<string> Reason = new("reason", false);
    public static readonly DataField<string> RejectedBy = new("rejected_by", false);

    public static ParquetSchema Schema { get; } = new(BarTs, Ticker, Open, High, Low, Close, AdjClose, Volume, ExecutionId, IngestedAt, Provider, Currency, ExchangeTimezone);

    public static ParquetSchema RejectedSchema { get; } = new(BarTs, Ticker, Open, High, Low, Close, AdjClose, Volume, ExecutionId, IngestedAt, Provider, Currency, ExchangeTimezone, Rule, Reason, RejectedBy);

    /// <summary>
    /// Columns added after objects were already written: a file without them reads them as null (silver and quarantine
    /// objects written before <c>currency</c> and <c>exchange_timezone</c> existed stay readable).
    /// </summary>
    internal static bool AddedLater(DataField field) => field.Name is "currency" or "exchange_timezone";

    /// <summary>Parquet.Net keeps an unbounded pool of recycled buffers unless told otherwise: bound it, so memory stays flat.</summary>
    public static ParquetOptions WriterOptions => new()
    {
        CompressionMethod = CompressionMethod.Snappy,
        MaximumSmallPoolFreeBytes = PoolFreeBytes,
        MaximumLargePoolFreeBytes = PoolFreeBytes,
    };

    public static ParquetOptions ReaderOptions => new() { MaximumSmallPoolFreeBytes = PoolFreeBytes, MaximumLargePoolFreeBytes = PoolFreeBytes };

    private const int PoolFreeBytes = 16 << 20;

    public static async Task WriteAsync(Stream destination, IReadOnlyList<BarRecord> rows, int rowGroupSize = DefaultRowGroupSize, CancellationToken cancellationToken = default)
    {
        await using var writer = await ParquetWriter.CreateAsync(Schema, destination, WriterOptions, append: false, cancellationToken);
        for (var offset = 0; offset == 0 || offset < rows.Count; offset += rowGroupSize)
        {
            var count = Math.Min(rowGroupSize, rows.Count - offset);
            using var group = writer.CreateRowGroup();
            await WriteColumnsAsync(group, ToColumns(rows, offset, count), cancellationToken);
            if (rows.Count == 0)
            {
                break;
            }
        }
    }

    /// <summary>Writes the thirteen bar columns of one row group.</summary>
    public static async Task WriteColumnsAsync(ParquetRowGroupWriter group, BarColumns c, CancellationToken ct)
    {
        var n = c.Count;
        await group.WriteAsync<DateTime>(BarTs, c.Timestamp.AsMemory(0, n), null, null, ct);
        await group.WriteAsync(Ticker, Exact(c.Ticker, n));
        await group.WriteAsync<double>(Open, c.Open.AsMemory(0, n), null, null, ct);
        await group.WriteAsync<double>(High, c.High.AsMemory(0, n), null, null, ct);
        await group.WriteAsync<double>(Low, c.Low.AsMemory(0, n), null, null, ct);
        await group.WriteAsync<double>(Close, c.Close.AsMemory(0, n), null, null, ct);
        await group.WriteAsync<double>(AdjClose, c.AdjClose.AsMemory(0, n), null, null, ct);
        await group.WriteAsync<long>(Volume, c.Volume.AsMemory(0, n), null, null, ct);
        await group.WriteAsync(ExecutionId, Exact(c.ExecutionId, n));
        await group.WriteAsync<DateTime>(IngestedAt, c.IngestedAt.AsMemory(0, n), null, null, ct);
        await group.WriteAsync(Provider, Exact(c.Provider, n));
        await group.WriteAsync(Currency, Exact(c.Currency, n));
        await group.WriteAsync(ExchangeTimezone, Exact(c.ExchangeTimezone, n));

        static string?[] Exact(string?[] values, int count) => values.Length == count ? values : values[..count];
    }

    /// <summary>Writes one quarantine object: the bar columns plus the rule each row broke, why, and the rejecting execution.</summary>
    public static async Task WriteRejectedAsync(Stream destination, BarColumns columns, string[] rules, string[] reasons, Guid rejectedBy, CancellationToken cancellationToken = default)
    {
        if (rules.Length != columns.Count || reasons.Length != columns.Count)
        {
            throw new ArgumentException($"rules ({rules.Length}) and reasons ({reasons.Length}) must have one entry per row ({columns.Count})", nameof(rules));
        }

        await using var writer = await ParquetWriter.CreateAsync(RejectedSchema, destination, WriterOptions, append: false, cancellationToken);
        using var group = writer.CreateRowGroup();
        await WriteColumnsAsync(group, columns, cancellationToken);
        await group.WriteAsync(Rule, rules);
        await group.WriteAsync(Reason, reasons);
        await group.WriteAsync(RejectedBy, Enumerable.Repeat(rejectedBy.ToString("D"), columns.Count).ToArray());
    }

    /// <summary>Reads a quarantine object back (operators, tests).</summary>
    public static async Task<List<RejectedRecord>> ReadRejectedAsync(Stream source, CancellationToken cancellationToken = default)
    {
        var result = new List<RejectedRecord>();
        await using var reader = await ParquetReader.CreateAsync(source, ReaderOptions, leaveStreamOpen: true, cancellationToken);
        var layout = BarFileLayout.Of(reader.Schema);
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var c = await ReadColumnsAsync(group, layout, cancellationToken);
            var rule = new string?[c.Count];
            var reason = new string?[c.Count];
            var by = new string?[c.Count];
            await group.ReadAsync(Rule, rule.AsMemory(), null, cancellationToken);
            await group.ReadAsync(Reason, reason.AsMemory(), null, cancellationToken);
            await group.ReadAsync(RejectedBy, by.AsMemory(), null, cancellationToken);
            var rows = ToRecords(c, g);
            for (var i = 0; i < c.Count; i++)
            {
                result.Add(new RejectedRecord(rows[i], rule[i] ?? string.Empty, reason[i] ?? string.Empty, Guid.Parse(by[i] ?? string.Empty)));
            }
        }

        return result;
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
        await using var reader = await ParquetReader.CreateAsync(source, ReaderOptions, leaveStreamOpen: true, cancellationToken);
        var layout = BarFileLayout.Of(reader.Schema);
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            yield return ToRecords(await ReadColumnsAsync(group, layout, cancellationToken), g);
        }
    }

    /// <summary>
    /// Reads the bar columns of one row group into arrays. Prices may be optional in the file (a null reads as NaN);
    /// every other column must have the pinned type and be non-null.
    /// </summary>
    /// <param name="buffer">Arrays to reuse when large enough (see <see cref="BarColumns.Reuse"/>), so a scan does not allocate per row group.</param>
    public static async Task<BarColumns> ReadColumnsAsync(ParquetRowGroupReader group, BarFileLayout layout, CancellationToken ct, BarColumns? buffer = null)
    {
        var n = checked((int)group.RowCount);
        var c = BarColumns.Reuse(buffer, n);
        await group.ReadAsync(BarTs, c.Timestamp.AsMemory(0, n), null, ct);
        await group.ReadAsync(Ticker, c.Ticker.AsMemory(0, n), null, ct);
        await ReadPriceAsync(group, layout.Open, c.Open.AsMemory(0, n), ct);
        await ReadPriceAsync(group, layout.High, c.High.AsMemory(0, n), ct);
        await ReadPriceAsync(group, layout.Low, c.Low.AsMemory(0, n), ct);
        await ReadPriceAsync(group, layout.Close, c.Close.AsMemory(0, n), ct);
        await group.ReadAsync(AdjClose, c.AdjClose.AsMemory(0, n), null, ct);
        await group.ReadAsync(Volume, c.Volume.AsMemory(0, n), null, ct);
        await group.ReadAsync(ExecutionId, c.ExecutionId.AsMemory(0, n), null, ct);
        await group.ReadAsync(IngestedAt, c.IngestedAt.AsMemory(0, n), null, ct);
        await group.ReadAsync(Provider, c.Provider.AsMemory(0, n), null, ct);
        await ReadOptionalTextAsync(group, layout.HasCurrency ? Currency : null, c.Currency.AsMemory(0, n), ct);
        await ReadOptionalTextAsync(group, layout.HasExchangeTimezone ? ExchangeTimezone : null, c.ExchangeTimezone.AsMemory(0, n), ct);
        return c;
    }

    /// <summary>Reads a column added later, or fills nulls when the file predates it (<paramref name="field"/> null).</summary>
    private static async Task ReadOptionalTextAsync(ParquetRowGroupReader group, DataField? field, Memory<string?> target, CancellationToken ct)
    {
        if (field is null)
        {
            target.Span.Clear();
            return;
        }

        await group.ReadAsync(field, target, null, ct);
    }

    private static async Task ReadPriceAsync(ParquetRowGroupReader group, DataField field, Memory<double> target, CancellationToken ct)
    {
        if (!field.IsNullable)
        {
            await group.ReadAsync(field, target, null, ct);
            return;
        }

        var values = new double?[target.Length];
        await group.ReadAsync(field, values.AsMemory(), null, ct);
        var span = target.Span;
        for (var i = 0; i < values.Length; i++)
        {
            span[i] = values[i] ?? double.NaN;
        }
    }

    private static BarColumns ToColumns(IReadOnlyList<BarRecord> rows, int offset, int count)
    {
        var c = new BarColumns(count);
        for (var i = 0; i < count; i++)
        {
            var r = rows[offset + i];
            c.Timestamp[i] = r.Bar.Timestamp.UtcDateTime;
            c.Ticker[i] = r.Bar.Ticker;
            c.Open[i] = r.Bar.Open;
            c.High[i] = r.Bar.High;
            c.Low[i] = r.Bar.Low;
            c.Close[i] = r.Bar.Close;
            c.AdjClose[i] = r.Bar.AdjClose;
            c.Volume[i] = r.Bar.Volume;
            c.ExecutionId[i] = r.ExecutionId.ToString("D");
            c.IngestedAt[i] = r.IngestedAt.UtcDateTime;
            c.Provider[i] = r.Provider;
            c.Currency[i] = r.Bar.Currency;
            c.ExchangeTimezone[i] = r.Bar.ExchangeTimezone;
        }

        return c;
    }

    private static BarRecord[] ToRecords(BarColumns c, int rowGroup)
    {
        var rows = new BarRecord[c.Count];
        for (var i = 0; i < c.Count; i++)
        {
            if (!Guid.TryParse(c.ExecutionId[i], out var executionId))
            {
                throw new InvalidDataException($"parquet row {i} of row group {rowGroup}: execution_id '{c.ExecutionId[i]}' is not a UUID");
            }

            rows[i] = new BarRecord(
                new QuoteBar(Utc(c.Timestamp[i]), c.Ticker[i] ?? throw new InvalidDataException($"parquet row {i}: ticker is null"), c.Open[i], c.High[i], c.Low[i], c.Close[i], c.AdjClose[i], c.Volume[i], c.Currency[i], c.ExchangeTimezone[i]),
                executionId,
                Utc(c.IngestedAt[i]),
                c.Provider[i] ?? string.Empty);
        }

        return rows;
    }

    private static DateTimeOffset Utc(DateTime value) =>
        new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}

/// <summary>The bar columns as a file declares them: checked once per file against the pinned schema.</summary>
/// <param name="HasCurrency">Whether the file has <c>currency</c> (objects written before it was added do not: null).</param>
/// <param name="HasExchangeTimezone">Whether the file has <c>exchange_timezone</c> (likewise).</param>
public sealed record BarFileLayout(DataField Open, DataField High, DataField Low, DataField Close, bool HasCurrency = true, bool HasExchangeTimezone = true)
{
    /// <summary>Throws <see cref="InvalidDataException"/> naming the first column that is missing or has another type.</summary>
    public static BarFileLayout Of(ParquetSchema fileSchema)
    {
        DataField? Find(DataField pinned, bool mayBeNullable)
        {
            // ParquetSchema.FindDataField throws on a missing column: look it up by name instead.
            var found = fileSchema.DataFields.FirstOrDefault(f => string.Equals(f.Name, pinned.Name, StringComparison.Ordinal));
            if (found is null && BarParquet.AddedLater(pinned))
            {
                return null;
            }

            if (found is null || found.ClrType != pinned.ClrType)
            {
                throw new InvalidDataException($"parquet column '{pinned.Name}' is missing or not {pinned.ClrType.Name}");
            }

            if (found.IsNullable && !pinned.IsNullable && !mayBeNullable)
            {
                throw new InvalidDataException($"parquet column '{pinned.Name}' must be required (non-null)");
            }

            return found;
        }

        foreach (var field in BarParquet.Schema.DataFields)
        {
            Find(field, mayBeNullable: field.Name is "open" or "high" or "low" or "close");
        }

        return new BarFileLayout(
            Find(BarParquet.Open, true)!,
            Find(BarParquet.High, true)!,
            Find(BarParquet.Low, true)!,
            Find(BarParquet.Close, true)!,
            Find(BarParquet.Currency, true) is not null,
            Find(BarParquet.ExchangeTimezone, true) is not null);
    }
}
