using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Parquet;

namespace FinancialPipeline.Stages.Work;

/// <summary>The named validation rules of silver and the boundary de-duplication.</summary>
public static class SilverRules
{
    public const string PricePositive = "price_positive";
    public const string HighLowBounds = "high_low_bounds";
    public const string VolumeNonNegative = "volume_non_negative";
    public const string TimestampAligned = "timestamp_aligned";
    public const string NotInFuture = "not_in_future";
    public const string TickerInJob = "ticker_in_job";
    public const string DuplicateInBatch = "duplicate_in_batch";

    public sealed record Result(List<BarRecord> Valid, List<RejectedRecord> Rejected);

    public static Result Validate(IEnumerable<BarRecord> rows, JobConfig job, DateTimeOffset now, Guid executionId)
    {
        var valid = new List<BarRecord>();
        var rejected = new List<RejectedRecord>();
        var tickers = job.Tickers.ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<(string, DateTimeOffset)>();
        var alignment = job.BarSize >= TimeSpan.FromDays(1) ? TimeSpan.FromMinutes(30) : TimeSpan.FromMinutes(Math.Min(30, job.BarSize.TotalMinutes));
        foreach (var row in rows)
        {
            var rule = Check(row, tickers, now, alignment, job.BarSize);
            if (rule is null && !seen.Add((row.Bar.Ticker, row.Bar.Timestamp)))
            {
                rule = (DuplicateInBatch, $"({row.Bar.Ticker}, {row.Bar.Timestamp:O}) appears more than once in this batch");
            }

            if (rule is { } r)
            {
                rejected.Add(new RejectedRecord(row, r.Rule, r.Reason, executionId));
            }
            else
            {
                valid.Add(row);
            }
        }

        return new Result(valid, rejected);
    }

    private static (string Rule, string Reason)? Check(BarRecord row, HashSet<string> tickers, DateTimeOffset now, TimeSpan alignment, TimeSpan barSize)
    {
        var b = row.Bar;
        if (!(b.Open > 0 && b.High > 0 && b.Low > 0 && b.Close > 0) || !double.IsFinite(b.Open + b.High + b.Low + b.Close))
        {
            return (PricePositive, $"prices must be positive and finite (o={b.Open} h={b.High} l={b.Low} c={b.Close})");
        }

        if (!(b.Low <= b.Open && b.Low <= b.Close && b.Open <= b.High && b.Close <= b.High))
        {
            return (HighLowBounds, $"need low <= open, close <= high (o={b.Open} h={b.High} l={b.Low} c={b.Close})");
        }

        if (b.Volume < 0)
        {
            return (VolumeNonNegative, $"volume {b.Volume} is negative");
        }

        if (b.Timestamp.Ticks % alignment.Ticks != 0)
        {
            return (TimestampAligned, $"bar start {b.Timestamp:O} is not aligned to {alignment.TotalMinutes} minutes");
        }

        if (b.Timestamp + barSize > now)
        {
            return (NotInFuture, $"bar {b.Timestamp:O} has not completed at {now:O}");
        }

        if (!tickers.Contains(b.Ticker))
        {
            return (TickerInJob, $"ticker '{b.Ticker}' is not in the job's list");
        }

        return null;
    }

    /// <summary>Existing partition rows plus new rows, one per (ticker, bar_ts): the newest ingestion wins.</summary>
    public static List<BarRecord> Merge(IEnumerable<BarRecord> existing, IEnumerable<BarRecord> incoming)
    {
        var byKey = new Dictionary<(string, DateTimeOffset), BarRecord>();
        foreach (var row in existing.Concat(incoming))
        {
            var key = (row.Bar.Ticker, row.Bar.Timestamp);
            if (!byKey.TryGetValue(key, out var current) || Newer(row, current))
            {
                byKey[key] = row;
            }
        }

        return byKey.Values.OrderBy(r => r.Bar.Ticker, StringComparer.Ordinal).ThenBy(r => r.Bar.Timestamp).ToList();
    }

    private static bool Newer(BarRecord candidate, BarRecord current) =>
        candidate.IngestedAt > current.IngestedAt
        || (candidate.IngestedAt == current.IngestedAt && string.CompareOrdinal(candidate.ExecutionId.ToString("D"), current.ExecutionId.ToString("D")) > 0);
}
