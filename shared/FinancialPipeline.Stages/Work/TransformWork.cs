using System.Text.RegularExpressions;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Runner;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// Silver: validates the execution's bronze objects row group by row group (failures go to quarantine with the
/// rule), then — holding the silver writers' PostgreSQL advisory lock, so concurrent executions never lose each
/// other's rows — merges the valid rows into the partition of each bar date they touch (key (ticker, bar_ts),
/// the newest ingestion wins) and replaces those partitions atomically. See <see cref="SilverEngine"/>.
/// </summary>
public sealed partial class TransformWork(IObjectStore store, AdvisoryLocks locks, TimeProvider time, SilverEngineOptions? options = null) : IStageWork
{
    private readonly SilverEngine _engine = new(store, options ?? new SilverEngineOptions());

    public Stage Stage => Stage.Silver;

    /// <summary>A bronze completion event names the objects to read: they are checked before the claim.</summary>
    public static bool ChecksBeforeClaim(StageInput input) => input.Upstream is { Outputs.Count: > 0 };

    /// <summary>
    /// Each of the bronze event's <c>outputs</c> must be an object URI of this store naming this execution's bronze
    /// object, <c>financial_quotes/ingest_date=YYYY-MM-DD/execution_id={this execution}/part-NNNNN.parquet</c>; otherwise
    /// the message is rejected before the claim (field <c>outputs[i]</c>): no later fix makes a relative path, another
    /// scheme, a <c>..</c> segment or another execution's object (whose bars would be written to silver as this
    /// execution's) right. An object of another bucket than the job's is not rejected: see <see cref="ExecuteAsync"/>.
    /// </summary>
    public void RejectUnrunnable(JobConfig job, StageInput input)
    {
        var outputs = input.Upstream?.Outputs ?? [];
        for (var i = 0; i < outputs.Count; i++)
        {
            if (BronzeObjectOf(job.BucketName, input.ExecutionId, outputs[i]) is { Problem: { } problem })
            {
                throw new MessageRejectedException($"outputs[{i}]", problem).Of(input.ExecutionId);
            }
        }
    }

    /// <summary>The advisory lock every silver writer of a bucket takes around read-merge-replace.</summary>
    public static string LockName(string silverBucket) => $"silver:{silverBucket}";

    public async Task<StageOutcome> ExecuteAsync(StageContext context)
    {
        var job = context.Job;
        var ct = context.CancellationToken;
        var upstream = context.Input.Upstream ?? throw new InvalidOperationException("silver needs the bronze completion event");
        var window = await context.PinWindowAsync(upstream.Window.ToWindow());
        var bronze = upstream.Outputs.Select(uri => ObjectNameOf(job.BucketName, context.Lease.ExecutionId, uri)).Distinct(StringComparer.Ordinal).ToList();

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
            result.NewestBar)
        {
            Tickers = job.Tickers,
        };
    }

    private string ObjectNameOf(string jobBucket, Guid executionId, string uri)
    {
        var (bucket, name, problem) = BronzeObjectOf(jobBucket, executionId, uri);
        if (problem is not null)
        {
            // RejectUnrunnable rejected it before the claim; met here only if the checks disagree, which is a bug.
            throw new InvalidOperationException($"outputs: '{uri}' {problem}");
        }

        if (bucket != jobBucket)
        {
            // Not a rejection: it depends on the job's bucket_name, which may have changed since bronze ran. A failure is
            // retried, dead-lettered and alerted, and once the row is fixed fp replay runs it again.
            throw new InvalidOperationException($"outputs: '{uri}' is not an object of bucket {jobBucket} (the job's bucket_name)");
        }

        return name;
    }

    /// <summary>
    /// The bucket and object name of <paramref name="uri"/>, or the reason it can never be a bronze object of
    /// <paramref name="executionId"/> in this store. The store's URIs are <c>{root}{bucket}/{name}</c>: root is
    /// <c>gs://</c> on GCS and <c>file:///…/buckets/</c> on disk (one per deployment, so a URI outside it can never be
    /// read here), found from the URI the store gives <paramref name="jobBucket"/>.
    /// </summary>
    private (string Bucket, string Name, string? Problem) BronzeObjectOf(string jobBucket, Guid executionId, string uri)
    {
        var shown = PayloadText.Printable(uri, 200, keepLineBreaks: false);
        var root = store.UriOf(jobBucket, "_")[..^(jobBucket.Length + 2)];
        if (!uri.StartsWith(root, StringComparison.Ordinal))
        {
            var what = uri.Contains("://", StringComparison.Ordinal) ? "not an object URI of this store" : "not an absolute URI";
            return (string.Empty, string.Empty, $"'{shown}' is {what}: this store's objects are {root}{{bucket}}/{{object}}");
        }

        var path = uri[root.Length..];
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? path : path[..slash];
        var name = slash < 0 ? string.Empty : path[(slash + 1)..];
        if (BucketNames.Problem(bucket) is { } bucketProblem)
        {
            return (bucket, name, $"'{shown}': '{bucket}' {bucketProblem}");
        }

        // Checked on the name as written and as the filesystem store would unescape it (%2E%2E is ".." there).
        if (name.Split('/').Any(s => s is "." or ".." || Uri.UnescapeDataString(s) is "." or ".."))
        {
            return (bucket, name, $"'{shown}' has a '.' or '..' segment: an object name is used as it stands, never resolved against its parent");
        }

        var match = BronzeName().Match(name);
        if (!match.Success || !ObjectLayout.TryParseDateKey(match.Groups["date"].Value, out _))
        {
            return (bucket, name, $"'{shown}' is not a bronze object: its name must be {ObjectLayout.Dataset}/ingest_date=YYYY-MM-DD/execution_id={executionId:D}/part-NNNNN.parquet");
        }

        if (match.Groups["execution"].Value != executionId.ToString("D"))
        {
            return (bucket, name, $"'{shown}' is the bronze object of execution {match.Groups["execution"].Value}, not of this execution {executionId:D}: its bars would be written to silver as this execution's");
        }

        return (bucket, name, null);
    }

    /// <summary>The layout of <see cref="ObjectLayout.BronzeObject"/>, as written (a UUID in its "D" form, lower case); \z, as $ would match before a final line feed.</summary>
    [GeneratedRegex(@"^financial_quotes/ingest_date=(?<date>[0-9]{4}-[0-9]{2}-[0-9]{2})/execution_id=(?<execution>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/part-[0-9]{5}\.parquet\z", RegexOptions.CultureInvariant)]
    private static partial Regex BronzeName();
}
