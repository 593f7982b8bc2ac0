namespace FinancialPipeline.Core.Contracts;

/// <summary>A half-open UTC interval [Start, End).</summary>
public readonly record struct TimeWindow
{
    public TimeWindow(DateTimeOffset start, DateTimeOffset end)
    {
        if (start.Offset != TimeSpan.Zero || end.Offset != TimeSpan.Zero)
        {
            throw new ArgumentException("window bounds must be UTC");
        }

        if (end <= start)
        {
            throw new ArgumentException($"window end {end:O} must be after start {start:O}");
        }

        Start = start;
        End = end;
    }

    public DateTimeOffset Start { get; }

    public DateTimeOffset End { get; }

    public TimeSpan Duration => End - Start;

    public bool Contains(DateTimeOffset instant) => instant >= Start && instant < End;

    public override string ToString() => $"[{Start:yyyy-MM-ddTHH:mm:ssZ}, {End:yyyy-MM-ddTHH:mm:ssZ})";
}
