using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Core.Warehouse;
using FinancialPipeline.Stages.Runner;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// Gold: MERGEs the hourly aggregates of the bar dates silver touched into <c>financial_data_hour</c>. The outcome's
/// <c>newest_timestamp</c> (and the <c>newest_hour_unix_seconds</c> metric, kept in the ledger row) is the gold table's
/// newest hour after the MERGE, so a freshness check can compare it with the market calendar; when silver touched
/// nothing no MERGE runs, and the mark is still the table's newest hour (absent only while gold is empty).
/// </summary>
/// <param name="warehouse">Built at the first MERGE: the touched dates are checked before the claim, and a message
/// rejected, busy or already done must not pay for the warehouse client on a cold host.</param>
public sealed class AggregateWork(Lazy<IGoldWarehouse> warehouse, string warehouseLocation, TimeProvider time) : IStageWork
{
    /// <summary>The earliest touched date a silver event may name: the date of <see cref="ExtractWindows.EarliestBar"/> (see <see cref="RejectUnrunnable"/>).</summary>
    public static readonly DateOnly EarliestTouchedDate = DateOnly.FromDateTime(ExtractWindows.EarliestBar.UtcDateTime);

    public Stage Stage => Stage.Gold;

    /// <summary>A silver event's touched dates set the MERGE's scope: they are checked before the claim.</summary>
    public static bool ChecksBeforeClaim(StageInput input) => input.Upstream is { TouchedDates.Count: > 0 };

    /// <summary>
    /// Each of <c>touched_dates</c> (well-formed: <see cref="StageCompletedMessage.Parse"/> checked that) must be a bar date
    /// silver can have written, from <see cref="EarliestTouchedDate"/> to tomorrow (UTC), or the message is rejected before
    /// the claim (field <c>touched_dates[i]</c>). Upper bound: silver writes only bars that have completed by its clock
    /// (rule <c>not_in_future</c>), so a touched date is at latest the day silver ran; one day more absorbs an instance
    /// whose clock runs ahead around midnight, and a replay of an old event is never refused. Lower bound: no provider
    /// serves bars from before the Unix epoch, and it keeps the scope bounded: the MERGE reads silver from 7 days before
    /// the first touched date to 7 after the last, so 0001-01-01 or 9999-12-31 overflowed DateOnly and a span of
    /// centuries made DuckDB probe millions of partition directories, failing or stalling every redelivery.
    /// </summary>
    public void RejectUnrunnable(JobConfig job, StageInput input)
    {
        var latest = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime).AddDays(1);
        var dates = input.Upstream?.TouchedDates ?? [];
        for (var i = 0; i < dates.Count; i++)
        {
            if (ObjectLayout.TryParseDateKey(dates[i], out var date) && (date < EarliestTouchedDate || date > latest))
            {
                throw new MessageRejectedException(
                    $"touched_dates[{i}]",
                    $"{dates[i]} is not a bar date silver can have written: touched dates lie from {ObjectLayout.DateKey(EarliestTouchedDate)} to {ObjectLayout.DateKey(latest)} (tomorrow, UTC)").Of(input.ExecutionId);
            }
        }
    }

    public async Task<StageOutcome> ExecuteAsync(StageContext context)
    {
        var upstream = context.Input.Upstream ?? throw new InvalidOperationException("gold needs the silver completion event");
        var window = await context.PinWindowAsync(upstream.Window.ToWindow());
        var dates = new List<DateOnly>();
        foreach (var key in upstream.TouchedDates)
        {
            // StageCompletedMessage.Parse rejected a malformed key before the claim.
            dates.Add(ObjectLayout.TryParseDateKey(key, out var d) ? d : throw new InvalidOperationException($"touched_dates: '{key}' is not yyyy-MM-dd"));
        }

        var job = context.Job;
        foreach (var bucket in SilverBucketsOf(upstream.Outputs))
        {
            if (bucket != job.SilverBucketName)
            {
                // Not a rejection: it depends on the job row, which may have changed since silver ran. Gold would read the
                // job's bucket, find none of this run's rows and delete the touched dates' hours (BigQuery gold also
                // refuses a job bucket other than the one its external table reads). A failure is retried, dead-lettered and alerted; fp replay --stage silver
                // rewrites the execution into the new bucket, or the row is put back.
                throw new InvalidOperationException(
                    $"outputs: silver wrote this execution's partitions to bucket {bucket}, but the job's silver_bucket_name is now {job.SilverBucketName}; gold reads the job's bucket, so it merges nothing rather than the wrong silver");
            }
        }

        await context.EnsureOwnedAsync();
        var result = await warehouse.Value.MergeHoursAsync(context.Lease.ExecutionId, context.Lease.Attempt, job.SilverBucketName, TickersOf(upstream, job), dates, context.CancellationToken);
        return new StageOutcome(
            window,
            new RecordCounts(result.HoursInScope, result.RowsAffected, 0),
            [$"{warehouseLocation}#{result.Table}"],
            upstream.TouchedDates,
            Metrics(result),
            [],
            result.NewestHour);
    }

    /// <summary>
    /// The tickers gold recomputes: those silver ran with (its event's <c>tickers</c>), so a ticker removed from the job
    /// after silver wrote its rows still reaches gold; the job's current list for an event that does not say (older ones).
    /// </summary>
    public static IReadOnlyList<string> TickersOf(StageCompletedMessage upstream, JobConfig job) =>
        upstream.Tickers.Count > 0 ? upstream.Tickers : job.Tickers;

    /// <summary>
    /// The buckets of the silver partitions a silver event names: the path segment before <c>financial_quotes/date=</c>
    /// in each output (<c>gs://{bucket}/…</c> on GCS, <c>file:///…/buckets/{bucket}/…</c> locally). Quarantine objects
    /// and anything else are not partitions and are skipped.
    /// </summary>
    public static IEnumerable<string> SilverBucketsOf(IEnumerable<string> outputs)
    {
        var marker = "/" + ObjectLayout.Dataset + "/date=";
        foreach (var uri in outputs)
        {
            var at = uri.IndexOf(marker, StringComparison.Ordinal);
            if (at > 0)
            {
                var start = uri.LastIndexOf('/', at - 1) + 1;
                yield return uri[start..at];
            }
        }
    }

    private static Dictionary<string, long> Metrics(GoldMergeResult result)
    {
        var metrics = new Dictionary<string, long> { ["hours_in_scope"] = result.HoursInScope, ["rows_merged"] = result.RowsAffected };
        if (result.NewestHour is { } newest)
        {
            metrics["newest_hour_unix_seconds"] = newest.ToUnixTimeSeconds();
        }

        if (result.BytesBilled is { } billed)
        {
            metrics["bytes_billed"] = billed;
        }

        return metrics;
    }
}
