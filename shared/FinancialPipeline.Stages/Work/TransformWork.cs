using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Runner;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// Silver: validates the execution's bronze objects row group by row group (failures go to quarantine with the
/// rule), then — holding the silver writers' PostgreSQL advisory lock, so concurrent executions never lose each
/// other's rows — merges the valid rows into the partition of each bar date they touch (key (ticker, bar_ts),
/// the newest ingestion wins) and replaces those partitions atomically. See <see cref="SilverEngine"/>.
/// </summary>
public sealed class TransformWork(IObjectStore store, AdvisoryLocks locks, TimeProvider time, SilverEngineOptions? options = null) : IStageWork
{
    private readonly SilverEngine _engine = new(store, options ?? new SilverEngineOptions());

    public Stage Stage => Stage.Silver;

    /// <summary>The advisory lock every silver writer of a bucket takes around read-merge-replace.</summary>
    public static string LockName(string silverBucket) => $"silver:{silverBucket}";

    public async Task<StageOutcome> ExecuteAsync(StageContext context)
    {
        var job = context.Job;
        var ct = context.CancellationToken;
        var upstream = context.Input.Upstream ?? throw new InvalidOperationException("silver needs the bronze completion event");
        var window = await context.PinWindowAsync(upstream.Window.ToWindow());
        var bronze = upstream.Outputs.Select(uri => ObjectNameOf(job.BucketName, uri)).Distinct(StringComparer.Ordinal).ToList();

        using var staged = await _engine.StageAsync(new SilverBatch(job, context.Lease.ExecutionId, bronze, time.GetUtcNow()) { Attempt = context.Lease.Attempt }, ct);
        SilverResult result;
        await using (await locks.AcquireAsync(LockName(job.SilverBucketName), ct))
        {
            result = await _engine.CommitAsync(staged, _ => context.EnsureOwnedAsync(), ct);
        }

        return new StageOutcome(
            window,
            new RecordCounts(result.RowsIn, result.Written, result.Rejected),
            result.Outputs,
            result.TouchedDates,
            result.Metrics,
            [],
            result.NewestBar);
    }

    private string ObjectNameOf(string bucket, string uri)
    {
        var prefix = store.UriOf(bucket, "_")[..^1];
        if (!uri.StartsWith(prefix, StringComparison.Ordinal))
        {
            // Not a rejection: it depends on the job's bucket_name, which may have changed since bronze ran. A failure is
            // retried, dead-lettered and alerted, and once the row is fixed fp replay runs it again.
            throw new InvalidOperationException($"outputs: '{uri}' is not an object of bucket {bucket} (the job's bucket_name)");
        }

        return Uri.UnescapeDataString(uri[prefix.Length..]);
    }
}
