using System.Globalization;

namespace FinancialPipeline.Core.Storage;

/// <summary>
/// The deterministic object names of ARCHITECTURE.md: the same on GCS and on disk, so a retry overwrites
/// instead of duplicating.
/// </summary>
public static class ObjectLayout
{
    public const string Dataset = "financial_quotes";
    public const string RejectedDataset = "financial_quotes_rejected";

    /// <summary>
    /// <c>financial_quotes/ingest_date=</c>: what every bronze object name starts with and no silver or quarantine one
    /// does (<c>financial_quotes/date=</c>, <c>financial_quotes_rejected/</c>), even in a bucket a job uses for both.
    /// </summary>
    public const string BronzeRootPrefix = Dataset + "/ingest_date=";

    /// <summary><c>financial_quotes/ingest_date=YYYY-MM-DD/execution_id={uuid}/part-00000.parquet</c></summary>
    public static string BronzeObject(DateTimeOffset ingestDate, Guid executionId, int part = 0) =>
        $"{BronzePrefix(ingestDate, executionId)}part-{part.ToString("D5", CultureInfo.InvariantCulture)}.parquet";

    public static string BronzePrefix(DateTimeOffset ingestDate, Guid executionId) =>
        $"{BronzeRootPrefix}{DateKey(ingestDate)}/execution_id={executionId:D}/";

    /// <summary><c>financial_quotes/date=</c>: the prefix every silver partition starts with (not bronze's <c>ingest_date=</c>).</summary>
    public const string SilverRootPrefix = Dataset + "/date=";

    /// <summary><c>financial_quotes/date=YYYY-MM-DD/</c> — one partition per bar date (UTC).</summary>
    public static string SilverPartitionPrefix(DateOnly barDate) => $"{SilverRootPrefix}{DateKey(barDate)}/";

    /// <summary>
    /// The prefixes to list for the silver objects of <paramref name="barDates"/>, without listing the whole dataset,
    /// which grows by a partition a day: each date's partition when they are at most <paramref name="maxSeparate"/> (an
    /// hourly run touches one or two), else each of their months' (<c>financial_quotes/date=YYYY-MM-</c>: a backfill
    /// window's; the other dates of those months are listed too, and ignored).
    /// </summary>
    public static IReadOnlyList<string> SilverPartitionListings(IReadOnlyCollection<DateOnly> barDates, int maxSeparate = 4)
    {
        ArgumentOutOfRangeException.ThrowIfZero(barDates.Count);
        var dates = barDates.Distinct().Order().ToList();
        return dates.Count <= maxSeparate
            ? [.. dates.Select(SilverPartitionPrefix)]
            : [.. dates.Select(d => SilverRootPrefix + DateKey(d)[..8]).Distinct(StringComparer.Ordinal)];
    }

    public static string SilverObject(DateOnly barDate) => $"{SilverPartitionPrefix(barDate)}part-00000.parquet";

    /// <summary><c>financial_quotes/date=*/*.parquet</c>: the part files of every silver partition (a <see cref="ListObjectsOptions.MatchGlob"/>).</summary>
    public const string SilverPartFileGlob = SilverRootPrefix + "*/*.parquet";

    /// <summary>The bar date of a silver object (<c>financial_quotes/date=YYYY-MM-DD/…</c>); false for any other name.</summary>
    public static bool TryParseSilverDate(string objectName, out DateOnly barDate)
    {
        ArgumentNullException.ThrowIfNull(objectName);
        const int keyLength = 10; // yyyy-MM-dd
        barDate = default;
        return objectName.StartsWith(SilverRootPrefix, StringComparison.Ordinal)
            && objectName.Length > SilverRootPrefix.Length + keyLength
            && objectName[SilverRootPrefix.Length + keyLength] == '/'
            && TryParseDateKey(objectName.Substring(SilverRootPrefix.Length, keyLength), out barDate);
    }

    /// <summary>
    /// <c>financial_quotes_rejected/date=YYYY-MM-DD/rejected-{uuid}.parquet</c>: one object per bar date and rejecting
    /// execution. The execution is in the file name, not a Hive key, because the rows carry an <c>execution_id</c>
    /// column already (BigQuery rejects partition keys that repeat a column).
    /// </summary>
    public static string RejectedObject(DateOnly barDate, Guid executionId) =>
        $"{RejectedDataset}/date={DateKey(barDate)}/rejected-{executionId:D}.parquet";

    public static string DateKey(DateOnly date) => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public static string DateKey(DateTimeOffset instant) => DateKey(DateOnly.FromDateTime(instant.UtcDateTime));

    public static bool TryParseDateKey(string value, out DateOnly date) =>
        DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out date);
}
