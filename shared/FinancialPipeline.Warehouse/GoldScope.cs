using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Warehouse;

/// <summary>
/// Which silver partitions a gold MERGE reads and which gold partitions it may change, for the bar dates silver
/// touched. A gold hour's <c>return_pct</c> looks back to the ticker's previous hour, at most
/// <see cref="ReturnLookbackDays"/> days earlier; so the rows that can change are the touched dates' hours and
/// hours up to that many days after them, and computing those needs silver from that many days before.
/// </summary>
public sealed record GoldScope
{
    /// <summary>Longest gap between an hour and the previous hour its <c>return_pct</c> is computed against.</summary>
    public const int ReturnLookbackDays = 7;

    private GoldScope(IReadOnlyList<DateOnly> touched)
    {
        Touched = touched;
        TargetDates = touched.SelectMany(TargetsOf).Distinct().Order().ToList();
        ReadFrom = touched[0].AddDays(-ReturnLookbackDays);
        ReadTo = touched[^1].AddDays(ReturnLookbackDays);
    }

    /// <summary>The bar dates silver rewrote, distinct and ascending: every gold hour on them is recomputed.</summary>
    public IReadOnlyList<DateOnly> Touched { get; }

    /// <summary>The gold partitions the MERGE may change: each touched date and the <see cref="ReturnLookbackDays"/> after it.</summary>
    public IReadOnlyList<DateOnly> TargetDates { get; }

    /// <summary>First silver partition read.</summary>
    public DateOnly ReadFrom { get; }

    /// <summary>Last silver partition read (inclusive).</summary>
    public DateOnly ReadTo { get; }

    /// <summary>Every silver partition date from <see cref="ReadFrom"/> to <see cref="ReadTo"/>.</summary>
    public IEnumerable<DateOnly> ReadDates => Enumerable.Range(0, ReadTo.DayNumber - ReadFrom.DayNumber + 1).Select(ReadFrom.AddDays);

    /// <summary>
    /// Silver has just written every touched date: one without a partition means gold would read the wrong bucket (the
    /// job's <c>silver_bucket_name</c> changed, or is not the one the warehouse reads) or silver lost data, and counting
    /// it as empty would delete the job's gold hours of that date. The neighbours read for <c>return_pct</c> may be absent.
    /// </summary>
    /// <param name="hasPartition">Whether the silver bucket holds a part file of the date.</param>
    /// <param name="where">Where the date's partition was looked for (a path or URI), for the message.</param>
    /// <exception cref="InvalidOperationException">The first touched date without a partition, naming it and the bucket.</exception>
    public void RequireSilverPartitions(Func<DateOnly, bool> hasPartition, string silverBucket, Func<DateOnly, string> where)
    {
        ArgumentNullException.ThrowIfNull(hasPartition);
        ArgumentNullException.ThrowIfNull(where);
        foreach (var date in Touched)
        {
            if (!hasPartition(date))
            {
                throw new InvalidOperationException($"touched date {ObjectLayout.DateKey(date)} has no silver partition in bucket {silverBucket} ({where(date)}): gold merges nothing rather than deleting that date's hours");
            }
        }
    }

    /// <summary>
    /// The first gold partition the freshness query reads for the table's newest hour: the earliest touched date,
    /// which holds the newest hour whenever the run wrote anything; the earliest date (every partition) when
    /// <paramref name="scope"/> is null and nothing was touched, since then no bound is known.
    /// </summary>
    public static DateOnly NewestFrom(GoldScope? scope) => scope?.Touched[0] ?? DateOnly.MinValue;

    /// <summary>
    /// This scope cut into consecutive runs of touched dates whose target partitions number at most
    /// <paramref name="maxTargetDates"/> each (one scope when it fits). Each part is the scope of an execution that touched
    /// only those dates: it recomputes them from silver, so the parts may run in any order and together change what the
    /// whole would.
    /// </summary>
    public IReadOnlyList<GoldScope> Split(int maxTargetDates)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTargetDates, ReturnLookbackDays + 1);
        if (TargetDates.Count <= maxTargetDates)
        {
            return [this];
        }

        var parts = new List<GoldScope>();
        var current = new List<DateOnly>();
        var targets = new HashSet<DateOnly>();
        foreach (var date in Touched)
        {
            var adds = TargetsOf(date).Count(d => !targets.Contains(d));
            if (targets.Count + adds > maxTargetDates)
            {
                parts.Add(new GoldScope(current));
                current = [];
                targets.Clear();
            }

            current.Add(date);
            targets.UnionWith(TargetsOf(date));
        }

        parts.Add(new GoldScope(current));
        return parts;
    }

    /// <summary>The gold partitions a touched date's recomputation may change: that date and the <see cref="ReturnLookbackDays"/> after it.</summary>
    private static IEnumerable<DateOnly> TargetsOf(DateOnly touched) => Enumerable.Range(0, ReturnLookbackDays + 1).Select(touched.AddDays);

    /// <summary>The scope of <paramref name="touchedDates"/>, or null when there is nothing to recompute.</summary>
    public static GoldScope? For(IEnumerable<DateOnly> touchedDates)
    {
        ArgumentNullException.ThrowIfNull(touchedDates);
        var touched = touchedDates.Distinct().Order().ToList();
        return touched.Count == 0 ? null : new GoldScope(touched);
    }
}
