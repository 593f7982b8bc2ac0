using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Runner;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// Silver: reads the execution's bronze objects, validates every row (failures go to quarantine with the rule),
/// merges the valid rows into the silver partition of each bar date they touch — key (ticker, bar_ts), the
/// newest ingestion wins — and rewrites those partitions atomically. Writers of one job are serialised by a
/// PostgreSQL advisory lock so concurrent executions never lose each other's rows.
/// </summary>
public sealed class TransformWork(IObjectStore store, AdvisoryLocks locks, TimeProvider time) : IStageWork
{
    public Stage Stage => Stage.Silver;

    public async Task<StageOutcome> ExecuteAsync(StageContext context)
    {
        var job = context.Job;
        var ct = context.CancellationToken;
        var upstream = context.Input.Upstream ?? throw new InvalidOperationException("silver needs the bronze completion event");
        var window = await context.PinWindowAsync(upstream.Window.ToWindow());

        var bronze = new List<BarRecord>();
        foreach (var uri in upstream.Outputs)
        {
            var name = ObjectNameOf(job.BucketName, uri);
            using var buffer = new MemoryStream();
            await store.DownloadObjectAsync(job.BucketName, name, buffer, ct);
            buffer.Position = 0;
            try
            {
                bronze.AddRange(await BarParquet.ReadAsync(buffer, ct));
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or NotSupportedException)
            {
                throw new InvalidDataException($"bronze object {uri} is unreadable: {ex.Message}", ex);
            }
        }

        var validation = SilverRules.Validate(bronze, job, time.GetUtcNow(), context.Lease.ExecutionId);
        var outputs = new List<string>();
        var byDate = validation.Valid.GroupBy(r => DateOnly.FromDateTime(r.Bar.Timestamp.UtcDateTime)).OrderBy(g => g.Key).ToList();

        await using (await locks.AcquireAsync($"silver:{job.JobName}", ct))
        {
            foreach (var group in byDate)
            {
                var objectName = ObjectLayout.SilverObject(group.Key);
                var existing = await ReadExistingAsync(job.SilverBucketName, objectName, ct);
                var merged = SilverRules.Merge(existing, group);
                using var buffer = new MemoryStream();
                await BarParquet.WriteAsync(buffer, merged, cancellationToken: ct);
                buffer.Position = 0;
                await context.EnsureOwnedAsync();
                outputs.Add((await store.UploadObjectAsync(job.SilverBucketName, objectName, "application/vnd.apache.parquet", buffer, ct)).Uri);
            }
        }

        foreach (var group in validation.Rejected.GroupBy(r => DateOnly.FromDateTime(r.Record.Bar.Timestamp.UtcDateTime)))
        {
            using var buffer = new MemoryStream();
            await BarParquet.WriteRejectedAsync(buffer, group.ToList(), ct);
            buffer.Position = 0;
            await context.EnsureOwnedAsync();
            outputs.Add((await store.UploadObjectAsync(job.SilverBucketName, ObjectLayout.RejectedObject(group.Key, context.Lease.ExecutionId), "application/vnd.apache.parquet", buffer, ct)).Uri);
        }

        var metrics = validation.Rejected.GroupBy(r => r.Rule).ToDictionary(g => "rejected_" + g.Key, g => (long)g.Count());
        return new StageOutcome(
            window,
            new RecordCounts(bronze.Count, validation.Valid.Count, validation.Rejected.Count),
            outputs,
            byDate.Select(g => ObjectLayout.DateKey(g.Key)).ToList(),
            metrics,
            [],
            validation.Valid.Count == 0 ? null : validation.Valid.Max(r => r.Bar.Timestamp));
    }

    private async Task<List<BarRecord>> ReadExistingAsync(string bucket, string objectName, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        try
        {
            await store.DownloadObjectAsync(bucket, objectName, buffer, ct);
        }
        catch (ObjectNotFoundException)
        {
            return [];
        }

        buffer.Position = 0;
        return await BarParquet.ReadAsync(buffer, ct);
    }

    private string ObjectNameOf(string bucket, string uri)
    {
        var prefix = store.UriOf(bucket, "_")[..^1];
        if (!uri.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw new MessageRejectedException("outputs", $"'{uri}' is not an object of bucket {bucket}");
        }

        return Uri.UnescapeDataString(uri[prefix.Length..]);
    }
}
