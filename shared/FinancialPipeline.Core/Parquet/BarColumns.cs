namespace FinancialPipeline.Core.Parquet;

/// <summary>
/// One row group of the pinned bar schema as column arrays: the hot paths read and write Parquet column by
/// column without allocating an object per row. String columns hold shared references (Parquet dictionary
/// values, interned tickers), not a copy per row.
/// </summary>
#pragma warning disable CA1819 // column arrays are the point of this type
public sealed class BarColumns
{
    public BarColumns(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        Timestamp = new DateTime[count];
        Ticker = new string[count];
        Open = new double[count];
        High = new double[count];
        Low = new double[count];
        Close = new double[count];
        AdjClose = new double?[count];
        Volume = new long[count];
        ExecutionId = new string[count];
        IngestedAt = new DateTime[count];
        Provider = new string[count];
        Currency = new string[count];
        ExchangeTimezone = new string[count];
    }

    /// <summary>Rows in use; the arrays may be longer when a buffer is reused for a smaller row group.</summary>
    public int Count { get; private set; }

    public int Capacity => Timestamp.Length;

    /// <summary>This buffer if it can hold <paramref name="count"/> rows (reused, no allocation), else a new one.</summary>
    public static BarColumns Reuse(BarColumns? buffer, int count)
    {
        if (buffer is null || buffer.Capacity < count)
        {
            return new BarColumns(count);
        }

        buffer.Count = count;
        return buffer;
    }

    /// <summary>Bar start, UTC (<see cref="DateTimeKind.Utc"/> or unspecified-but-UTC as Parquet.Net reads it).</summary>
    public DateTime[] Timestamp { get; }

    public string?[] Ticker { get; }

    /// <summary>Prices; a null in a file whose price column is optional reads as NaN (fails <c>price_positive</c>).</summary>
    public double[] Open { get; }

    public double[] High { get; }

    public double[] Low { get; }

    public double[] Close { get; }

    public double?[] AdjClose { get; }

    public long[] Volume { get; }

    public string?[] ExecutionId { get; }

    public DateTime[] IngestedAt { get; }

    public string?[] Provider { get; }

    /// <summary>The prices' currency; null when unknown, and in files written before the column existed.</summary>
    public string?[] Currency { get; }

    /// <summary>The exchange's IANA time zone; null when unknown, and in files written before the column existed.</summary>
    public string?[] ExchangeTimezone { get; }
}
#pragma warning restore CA1819
