using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using Parquet;

namespace FinancialPipeline.Stages.Work;

public sealed record SilverEngineOptions
{
    /// <summary>Rows of a batch held in memory before every date bucket spills to disk (80 bytes a row).</summary>
    public int MaxBufferedRows { get; init; } = 1 << 19;

    /// <summary>Where bronze downloads and spill files go (default: the system temp directory).</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Bronze objects decoded at the same time.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Date partitions merged and uploaded at the same time.</summary>
    public int MaxConcurrentPartitions { get; init; } = Environment.ProcessorCount;
}

/// <summary>One silver batch: the bronze objects of an execution, validated against its job at <paramref name="Now"/>.</summary>
public sealed record SilverBatch(JobConfig Job, Guid ExecutionId, IReadOnlyList<string> BronzeObjects, DateTimeOffset Now)
{
    /// <summary>The stage attempt; past the first, quarantine objects an earlier attempt left may have to go.</summary>
    public int Attempt { get; init; } = 1;
}

/// <summary>What a committed batch did: becomes the ledger row and the completion event.</summary>
public sealed record SilverResult(
    long RowsIn,
    long Written,
    long Rejected,
    IReadOnlyList<string> Outputs,
    IReadOnlyList<string> TouchedDates,
    IReadOnlyDictionary<string, long> Metrics,
    DateTimeOffset? NewestBar);

/// <summary>
/// The Transform stage's engine, in two passes with bounded memory.
/// <para><b>Stage</b> (no lock needed): each bronze object is downloaded to a work file and read row group by
/// row group into column arrays; every row is checked against <see cref="SilverRules"/> and routed, valid or not,
/// into the bucket of its bar date (spilled to disk past <see cref="SilverEngineOptions.MaxBufferedRows"/>).</para>
/// <para><b>Commit</b> (the caller holds the silver writers' lock): each touched date, in parallel, merges its rows
/// with the existing silver partition — key (ticker, bar_ts), the newest ingestion wins, in-batch duplicates
/// go to quarantine — and replaces the partition with one atomic upload, then writes that date's quarantine
/// object. Output is sorted by (ticker, bar_ts) and depends only on the inputs, so a re-run writes the same rows.</para>
/// </summary>
public sealed class SilverEngine(IObjectStore store, SilverEngineOptions options)
{
    private const string ParquetContentType = "application/vnd.apache.parquet";

    public async Task<SilverStage> StageAsync(SilverBatch batch, CancellationToken cancellationToken)
    {
        var root = options.WorkDirectory ?? Path.GetTempPath();
        var staged = new SilverStage(batch, Path.Combine(root, $"fp-silver-{batch.ExecutionId:N}-{Guid.NewGuid():N}"), options.MaxBufferedRows);
        try
        {
            Directory.CreateDirectory(staged.WorkDirectory);
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(Enumerable.Range(0, batch.BronzeObjects.Count), parallel, (i, ct) => new ValueTask(ScanBronzeAsync(staged, i, ct)));
            staged.ReleaseScanBuffers();
            return staged;
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }

    /// <param name="beforeWrite">Called before every upload (the stage checks it still owns the execution).</param>
    public async Task<SilverResult> CommitAsync(SilverStage staged, Func<CancellationToken, Task> beforeWrite, CancellationToken cancellationToken)
    {
        var results = new ConcurrentDictionary<int, PartitionResult>();
        // Listed under the caller's lock: no other writer can add a partition until the commit ends. Only the batch's
        // dates: the whole dataset grows by a partition a day, and every hourly run would page through all of it.
        staged.ExistingPartitions = new(StringComparer.Ordinal);
        var listings = staged.Buckets.Count == 0 ? [] : ObjectLayout.SilverPartitionListings([.. staged.Buckets.Values.Select(b => b.Date)]);
        foreach (var prefix in listings)
        {
            await foreach (var o in store.ListObjectsAsync(staged.Batch.Job.SilverBucketName, prefix, cancellationToken: cancellationToken))
            {
                staged.ExistingPartitions[o.Name] = o.Generation;
            }
        }

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxConcurrentPartitions, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(staged.Buckets.Values.OrderBy(b => b.DayNumber), parallel, async (bucket, ct) =>
            results[bucket.DayNumber] = await MergePartitionAsync(staged, bucket, beforeWrite, ct));

        var ordered = results.OrderBy(r => r.Key).Select(r => r.Value).ToList();
        var metrics = new Dictionary<string, long>(StringComparer.Ordinal);
        var rejectedByRule = staged.RejectedByRule.ToArray();
        foreach (var p in ordered)
        {
            rejectedByRule[SilverRules.DuplicateInBatchId] += p.Duplicates;
        }

        for (var rule = 1; rule < SilverRules.Names.Count; rule++)
        {
            metrics["rejected_" + SilverRules.Names[rule]] = rejectedByRule[rule];
        }

        metrics["quarantine_objects_removed"] = staged.Batch.Attempt > 1 ? await RemoveEarlierQuarantineAsync(staged, ordered, beforeWrite, cancellationToken) : 0;
        var written = ordered.Sum(p => p.Written);
        var rejected = rejectedByRule.Sum();
        metrics["rows_in"] = staged.RowsIn;
        metrics["rows_superseded"] = staged.RowsIn - rejected - written;
        metrics["silver_partitions_rewritten"] = ordered.Count(p => p.SilverUri is not null);
        metrics["silver_rows_in_rewritten_partitions"] = ordered.Sum(p => p.PartitionRows);
        metrics["rows_spilled"] = staged.SpilledRows;
        var outputs = ordered.SelectMany(p => new[] { p.SilverUri, p.QuarantineUri }).OfType<string>().ToList();
        var touched = ordered.Where(p => p.SilverUri is not null).Select(p => ObjectLayout.DateKey(p.Date)).ToList();
        return new SilverResult(staged.RowsIn, written, rejected, outputs, touched, metrics, staged.NewestValidTicks is { } t ? new DateTimeOffset(t, TimeSpan.Zero) : null);
    }

    /// <summary>
    /// A re-run of an execution (retry, replay, takeover) replaces its quarantine object of every date it rejects rows
    /// on; one of a date where it rejects nothing (a replay's re-fetch corrected the bar, say) would keep the earlier
    /// attempt's rows and name this execution for rows it no longer rejects. Those objects are deleted.
    /// </summary>
    private async Task<long> RemoveEarlierQuarantineAsync(SilverStage staged, IReadOnlyList<PartitionResult> partitions, Func<CancellationToken, Task> beforeWrite, CancellationToken ct)
    {
        var bucket = staged.Batch.Job.SilverBucketName;
        var current = partitions.Where(p => p.QuarantineUri is not null)
            .Select(p => ObjectLayout.RejectedObject(p.Date, staged.Batch.ExecutionId)).ToHashSet(StringComparer.Ordinal);
        var suffix = $"/rejected-{staged.Batch.ExecutionId:D}.parquet";
        var stale = new List<string>();

        // The glob lets GCS return only this execution's objects instead of the whole (ever-growing) dataset; the
        // suffix check stays so that a store ignoring the glob can never make this delete another execution's rows.
        var thisExecution = new ListObjectsOptions { MatchGlob = $"{ObjectLayout.RejectedDataset}/**{suffix}" };
        await foreach (var o in store.ListObjectsAsync(bucket, ObjectLayout.RejectedDataset + "/", thisExecution, ct))
        {
            if (o.Name.EndsWith(suffix, StringComparison.Ordinal) && !current.Contains(o.Name))
            {
                stale.Add(o.Name);
            }
        }

        foreach (var name in stale)
        {
            await beforeWrite(ct);
            await store.DeleteObjectAsync(bucket, name, ct);
        }

        return stale.Count;
    }

    private async Task ScanBronzeAsync(SilverStage staged, int index, CancellationToken ct)
    {
        var bucket = staged.Batch.Job.BucketName;
        var name = staged.Batch.BronzeObjects[index];
        var uri = store.UriOf(bucket, name);
        var local = Path.Combine(staged.WorkDirectory, $"bronze-{index:D5}.parquet");
        try
        {
            await using (var file = new FileStream(local, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await store.DownloadObjectAsync(bucket, name, file, ct);
            }

            await using var input = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.DeleteOnClose);
            await using var reader = await ParquetReader.CreateAsync(input, BarParquet.ReaderOptions, leaveStreamOpen: true, ct);
            var layout = BarFileLayout.Of(reader.Schema);
            var seq = 0;
            staged.ColumnBuffers.TryTake(out var columns);
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                columns = await BarParquet.ReadColumnsAsync(group, layout, ct, columns);
                var rows = ArrayPool<SilverRow>.Shared.Rent(columns.Count);
                try
                {
                    var span = rows.AsSpan(0, columns.Count);
                    SilverRowColumns.FromColumns(columns, span, index + 1, seq, staged.Symbols, staged.Lineages, $"bronze object {uri}, row group {g}");
                    staged.CheckAndRoute(span);
                }
                finally
                {
                    ArrayPool<SilverRow>.Shared.Return(rows);
                }

                seq = checked(seq + columns.Count);
            }

            if (columns is not null)
            {
                staged.ColumnBuffers.Add(columns);
            }
        }
        catch (ObjectNotFoundException ex)
        {
            throw new InvalidDataException(
                $"bronze object {uri} does not exist (listed by the bronze completion event); failing so the message is retried. " +
                $"If the bronze bucket's lifecycle rule deleted it, no retry finds it: run the execution again from bronze with " +
                $"fp replay --execution-id {staged.Batch.ExecutionId:D} --stage bronze", ex);
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or InvalidDataException))
        {
            throw new InvalidDataException($"bronze object {uri} is unreadable: {ex.Message}", ex);
        }
        catch (InvalidDataException ex) when (!ex.Message.Contains(uri, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"bronze object {uri} is unreadable: {ex.Message}", ex);
        }
    }

    private async Task<PartitionResult> MergePartitionAsync(SilverStage staged, DateBucket bucket, Func<CancellationToken, Task> beforeWrite, CancellationToken ct)
    {
        var batch = staged.Batch;
        var date = bucket.Date;
        var incoming = staged.Load(bucket);
        var validCount = 0;
        var rejected = new List<SilverRow>();
        foreach (var row in incoming)
        {
            if (row.Rule == SilverRules.Valid)
            {
                incoming[validCount++] = row; // in place: no second copy of the partition
            }
            else
            {
                rejected.Add(row);
            }
        }

        string? silverUri = null;
        var written = 0L;
        var partitionRows = 0;
        var duplicates = 0;
        if (validCount > 0)
        {
            var silverObject = ObjectLayout.SilverObject(date);
            var all = incoming[..validCount];
            var readGeneration = staged.ExistingPartitions!.GetValueOrDefault(silverObject);
            if (readGeneration != 0)
            {
                all = [.. await ReadExistingAsync(staged, batch.Job.SilverBucketName, date, silverObject, ct), .. all];
            }

            var winners = Deduplicate(all, staged, rejected, out duplicates);
            written = winners.Count(r => r.Source > 0);
            partitionRows = winners.Length;
            using var buffer = new MemoryStream();
            await WriteSilverAsync(buffer, winners, staged, ct);
            buffer.Position = 0;
            await beforeWrite(ct);
            try
            {
                // Replaced only if it is still the generation that was listed (0: still absent), so a writer that lost
                // the silver lock (its connection dropped) cannot overwrite another writer's merge of the same date.
                var replace = new UploadObjectOptions { IfGenerationMatch = readGeneration };
                silverUri = (await store.UploadObjectAsync(batch.Job.SilverBucketName, silverObject, ParquetContentType, buffer, replace, ct)).Uri;
            }
            catch (ObjectPreconditionFailedException ex)
            {
                throw new InvalidOperationException(
                    $"silver partition {ObjectLayout.DateKey(date)} changed while this run merged it, so nothing was overwritten; the run fails and its retry merges again ({ex.Message})", ex);
            }
        }

        string? quarantineUri = null;
        if (rejected.Count > 0)
        {
            quarantineUri = await WriteQuarantineAsync(staged, date, rejected, beforeWrite, ct);
        }

        return new PartitionResult(date, silverUri, quarantineUri, written, partitionRows, duplicates);
    }

    /// <summary>
    /// One row per (ticker, bar_ts). Rows are sorted by a 64-bit key (ticker rank, time of day); within a key, a
    /// row followed by another valid row of the same key in the same bronze object is an in-batch duplicate
    /// (quarantined; the highest seq, the object's last word on the bar, is kept, as the Yahoo parser keeps a
    /// repeated timestamp's later bar), and among the rest the newest ingestion wins — ties go to the later source
    /// (this batch over the existing partition), then the lower seq — so the result does not depend on the sort's
    /// order inside a key and a re-run of an execution changes nothing.
    /// </summary>
    private static SilverRow[] Deduplicate(SilverRow[] rows, SilverStage staged, List<SilverRow> rejected, out int duplicates)
    {
        var ranks = staged.Symbols.Ranks(rows.Select(r => r.Ticker));
        var lineage = staged.Lineages.Snapshot();
        var keys = new long[rows.Length];
        var order = new int[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            // Every row of a partition shares its UTC date, so the time of day (< 2^40 ticks) identifies the bar.
            keys[i] = ((long)ranks[rows[i].Ticker] << 40) | (rows[i].Ts % TimeSpan.TicksPerDay);
            order[i] = i;
        }

        Array.Sort(keys, order);
        var winners = new SilverRow[rows.Length];
        var count = 0;
        duplicates = 0;
        for (var start = 0; start < order.Length;)
        {
            var end = start + 1;
            while (end < order.Length && keys[end] == keys[start])
            {
                end++;
            }

            var best = -1;
            for (var k = start; k < end; k++)
            {
                ref readonly var row = ref rows[order[k]];
                if (row.Source > 0 && IsSupersededInObject(rows, order, start, end, k))
                {
                    var duplicate = row;
                    duplicate.Rule = SilverRules.DuplicateInBatchId;
                    rejected.Add(duplicate);
                    duplicates++;
                    continue;
                }

                if (best < 0 || Wins(in row, in rows[best], lineage))
                {
                    best = order[k];
                }
            }

            winners[count++] = rows[best];
            start = end;
        }

        return winners[..count];
    }

    /// <summary>True when a later row (higher seq) of the same bronze object has the same key: that one supersedes it.</summary>
    private static bool IsSupersededInObject(SilverRow[] rows, int[] order, int start, int end, int k)
    {
        ref readonly var row = ref rows[order[k]];
        for (var j = start; j < end; j++)
        {
            ref readonly var other = ref rows[order[j]];
            if (j != k && other.Source == row.Source && other.Seq > row.Seq)
            {
                return true;
            }
        }

        return false;
    }

    private static bool Wins(in SilverRow candidate, in SilverRow current, LineageTable.Entry[] lineage)
    {
        if (candidate.Lineage != current.Lineage)
        {
            var c = LineageTable.Compare(lineage[candidate.Lineage], lineage[current.Lineage]);
            if (c != 0)
            {
                return c > 0;
            }
        }

        return candidate.Source != current.Source ? candidate.Source > current.Source : candidate.Seq < current.Seq;
    }

    private async Task<SilverRow[]> ReadExistingAsync(SilverStage staged, string bucket, DateOnly date, string objectName, CancellationToken ct)
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
        var uri = store.UriOf(bucket, objectName);
        try
        {
            await using var reader = await ParquetReader.CreateAsync(buffer, BarParquet.ReaderOptions, leaveStreamOpen: true, ct);
            var layout = BarFileLayout.Of(reader.Schema);
            var rows = new List<SilverRow>();
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var columns = await BarParquet.ReadColumnsAsync(group, layout, ct);
                var part = new SilverRow[columns.Count];
                SilverRowColumns.FromColumns(columns, part, 0, rows.Count, staged.Symbols, staged.Lineages, $"silver object {uri}, row group {g}");
                if (part.Any(r => r.Ts / TimeSpan.TicksPerDay != date.DayNumber))
                {
                    throw new InvalidDataException($"row group {g} holds bars of another date than {ObjectLayout.DateKey(date)}");
                }

                rows.AddRange(part);
            }

            return [.. rows];
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Never overwrite a partition we could not read: that would lose its rows.
            throw new InvalidDataException($"existing silver partition {uri} is unreadable, refusing to replace it: {ex.Message}", ex);
        }
    }

    private static async Task WriteSilverAsync(Stream destination, SilverRow[] rows, SilverStage staged, CancellationToken ct)
    {
        await using var writer = await ParquetWriter.CreateAsync(BarParquet.Schema, destination, BarParquet.WriterOptions, append: false, ct);
        for (var offset = 0; offset == 0 || offset < rows.Length; offset += BarParquet.DefaultRowGroupSize)
        {
            var count = Math.Min(BarParquet.DefaultRowGroupSize, rows.Length - offset);
            using var group = writer.CreateRowGroup();
            await BarParquet.WriteColumnsAsync(group, SilverRowColumns.ToColumns(rows.AsSpan(offset, count), staged.Symbols, staged.Lineages), ct);
        }
    }

    private async Task<string> WriteQuarantineAsync(SilverStage staged, DateOnly date, List<SilverRow> rejected, Func<CancellationToken, Task> beforeWrite, CancellationToken ct)
    {
        rejected.Sort((a, b) => a.Source != b.Source ? a.Source.CompareTo(b.Source) : a.Seq.CompareTo(b.Seq));
        var span = CollectionsMarshal.AsSpan(rejected);
        var columns = SilverRowColumns.ToColumns(span, staged.Symbols, staged.Lineages);
        var rules = new string[span.Length];
        var reasons = new string[span.Length];
        for (var i = 0; i < span.Length; i++)
        {
            ref readonly var r = ref span[i];
            rules[i] = SilverRules.Names[r.Rule];
            reasons[i] = staged.Rules.Describe(r.Rule, columns.Timestamp[i], columns.Ticker[i]!, r.Open, r.High, r.Low, r.Close, r.HasAdjClose ? r.AdjClose : null, r.Volume);
        }

        using var buffer = new MemoryStream();
        await BarParquet.WriteRejectedAsync(buffer, columns, rules, reasons, staged.Batch.ExecutionId, ct);
        buffer.Position = 0;
        await beforeWrite(ct);
        var objectName = ObjectLayout.RejectedObject(date, staged.Batch.ExecutionId);
        return (await store.UploadObjectAsync(staged.Batch.Job.SilverBucketName, objectName, ParquetContentType, buffer, cancellationToken: ct)).Uri;
    }

    private sealed record PartitionResult(DateOnly Date, string? SilverUri, string? QuarantineUri, long Written, int PartitionRows, int Duplicates);
}

/// <summary>
/// A staged batch: validated rows bucketed by bar date, in memory up to a budget and spilled beyond it.
/// Dispose deletes the work directory.
/// </summary>
public sealed class SilverStage : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Stack<SilverRow[]> _pool = new();
    private readonly long _budget;
    private long _buffered;
    private long _rowsIn;
    private long _spilled;
    private long _newestValid = long.MinValue;

    internal SilverStage(SilverBatch batch, string workDirectory, int budget)
    {
        Batch = batch;
        WorkDirectory = workDirectory;
        _budget = Math.Max(budget, DateBucket.ChunkRows);
        Symbols = new SymbolTable(batch.Job.Tickers);
        Rules = new SilverRules(batch.Job, batch.Now);
    }

    public SilverBatch Batch { get; }

    public string WorkDirectory { get; }

    public long RowsIn => Interlocked.Read(ref _rowsIn);

    public long SpilledRows => Interlocked.Read(ref _spilled);

    internal SilverRules Rules { get; }

    internal SymbolTable Symbols { get; }

    internal LineageTable Lineages { get; } = new();

    internal Dictionary<int, DateBucket> Buckets { get; } = [];

    internal long[] RejectedByRule { get; } = new long[SilverRules.Names.Count];

    /// <summary>Silver object names present when the commit started.</summary>
    /// <summary>Silver partitions listed at the start of the commit, with their generations.</summary>
    internal Dictionary<string, long>? ExistingPartitions { get; set; }

    /// <summary>Row-group column arrays reused across bronze objects (one per concurrent reader).</summary>
    internal ConcurrentBag<BarColumns> ColumnBuffers { get; } = [];

    internal long? NewestValidTicks => _newestValid == long.MinValue ? null : _newestValid;

    /// <summary>Sets each row's rule and appends it to the bucket of its bar date.</summary>
    internal void CheckAndRoute(Span<SilverRow> rows)
    {
        var local = new long[SilverRules.Names.Count];
        var newest = long.MinValue;
        var ticker = -1;
        var inJob = false;
        for (var i = 0; i < rows.Length; i++)
        {
            ref var r = ref rows[i];
            if (r.Ticker != ticker)
            {
                ticker = r.Ticker;
                inJob = Symbols.InJob(ticker);
            }

            r.Rule = (byte)Rules.Check(r.Ts, inJob, r.Open, r.High, r.Low, r.Close, r.HasAdjClose ? r.AdjClose : null, r.Volume);
            local[r.Rule]++;
            if (r.Rule == SilverRules.Valid && r.Ts > newest)
            {
                newest = r.Ts;
            }
        }

        lock (_gate)
        {
            for (var rule = 1; rule < local.Length; rule++)
            {
                RejectedByRule[rule] += local[rule];
            }

            _rowsIn += rows.Length;
            _newestValid = Math.Max(_newestValid, newest);
            DateBucket? bucket = null;
            foreach (ref readonly var r in rows)
            {
                var day = (int)(r.Ts / TimeSpan.TicksPerDay);
                if (bucket?.DayNumber != day && !Buckets.TryGetValue(day, out bucket))
                {
                    bucket = new DateBucket(day);
                    Buckets.Add(day, bucket);
                }

                if (bucket.LastChunkCount == DateBucket.ChunkRows)
                {
                    bucket.Chunks.Add(_pool.Count > 0 ? _pool.Pop() : new SilverRow[DateBucket.ChunkRows]);
                    bucket.LastChunkCount = 0;
                }

                bucket.Chunks[^1][bucket.LastChunkCount++] = r;
                if (++_buffered >= _budget)
                {
                    SpillAll();
                }
            }
        }
    }

    /// <summary>All rows of a bucket (spilled + in memory); its memory goes back to the pool.</summary>
    internal SilverRow[] Load(DateBucket bucket)
    {
        var rows = new SilverRow[bucket.TotalRows];
        var offset = 0;
        if (bucket.SpillPath is { } path)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            file.ReadExactly(MemoryMarshal.AsBytes(rows.AsSpan(0, checked((int)bucket.SpilledRows))));
            offset = (int)bucket.SpilledRows;
        }

        lock (_gate)
        {
            for (var c = 0; c < bucket.Chunks.Count; c++)
            {
                var n = c == bucket.Chunks.Count - 1 ? bucket.LastChunkCount : DateBucket.ChunkRows;
                bucket.Chunks[c].AsSpan(0, n).CopyTo(rows.AsSpan(offset));
                offset += n;
            }

            bucket.Chunks.Clear();
            bucket.LastChunkCount = DateBucket.ChunkRows;
        }

        return rows;
    }

    /// <summary>After the scan: the chunk pool and row-group buffers are no longer needed by the merge.</summary>
    internal void ReleaseScanBuffers()
    {
        lock (_gate)
        {
            _pool.Clear();
        }

        ColumnBuffers.Clear();
    }

    public void Dispose()
    {
        if (Directory.Exists(WorkDirectory))
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
    }

    private void SpillAll()
    {
        foreach (var bucket in Buckets.Values)
        {
            if (bucket.Chunks.Count == 0)
            {
                continue;
            }

            bucket.SpillPath ??= Path.Combine(WorkDirectory, $"spill-{bucket.DayNumber}.rows");
            using (var file = new FileStream(bucket.SpillPath, FileMode.Append, FileAccess.Write, FileShare.None, 1 << 16))
            {
                for (var c = 0; c < bucket.Chunks.Count; c++)
                {
                    var n = c == bucket.Chunks.Count - 1 ? bucket.LastChunkCount : DateBucket.ChunkRows;
                    file.Write(MemoryMarshal.AsBytes(bucket.Chunks[c].AsSpan(0, n)));
                    _pool.Push(bucket.Chunks[c]);
                }
            }

            bucket.SpilledRows += bucket.InMemoryRows;
            _spilled += bucket.InMemoryRows;
            bucket.Chunks.Clear();
            bucket.LastChunkCount = DateBucket.ChunkRows;
        }

        _buffered = 0;
    }
}

