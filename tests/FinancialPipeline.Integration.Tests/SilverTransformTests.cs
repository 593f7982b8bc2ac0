using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Runner;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;
using FinancialPipeline.Tests.Shared;

namespace FinancialPipeline.Integration.Tests;

/// <summary>The Transform stage body on real PostgreSQL leases and advisory locks.</summary>
[Collection(nameof(StackFixture))]
public sealed class SilverTransformTests(StackFixture stack) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fp-silver-transform-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task TwoExecutionsOnOverlappingDates_RunConcurrently_AndNoRowIsLost()
    {
        var job = await stack.CreateJobAsync("AAPL,MSFT,NVDA");
        // Uploads are slowed down so that, without the lock, both merges would read the same old partition.
        var store = new SlowUploadStore(new FileSystemObjectStore(_root), TimeSpan.FromMilliseconds(100));
        var ledger = new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions());
        var work = new TransformWork(store, new AdvisoryLocks(stack.DataSource), TimeProvider.System, new SilverEngineOptions { WorkDirectory = _root });
        var day = new DateTimeOffset(2026, 10, 5, 14, 30, 0, TimeSpan.Zero);

        for (var round = 0; round < 3; round++)
        {
            var start = day.AddDays(round * 7);
            // Execution A has AAPL for days 0-2, execution B has MSFT for days 1-3: dates 1 and 2 are written by both.
            var a = await BronzeAsync(store.Files, job.BucketName, "AAPL", start, days: 3);
            var b = await BronzeAsync(store.Files, job.BucketName, "MSFT", start.AddDays(1), days: 3);

            var outcomes = await Task.WhenAll(RunAsync(work, ledger, job, a), RunAsync(work, ledger, job, b));

            var silver = new List<BarRecord>();
            foreach (var date in outcomes.SelectMany(o => o.TouchedDates).Distinct())
            {
                using var buffer = new MemoryStream();
                await store.DownloadObjectAsync(job.SilverBucketName, ObjectLayout.SilverObject(DateOnly.ParseExact(date, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)), buffer);
                buffer.Position = 0;
                silver.AddRange(await BarParquet.ReadAsync(buffer));
            }

            Assert.True(a.Rows.Count + b.Rows.Count == silver.Count(r => r.Bar.Timestamp >= start && r.Bar.Timestamp < start.AddDays(5)), $"round {round}: {a.Rows.Count} + {b.Rows.Count} rows written, silver holds {silver.Count} ({string.Join(", ", outcomes.Select(o => $"{o.Records} {string.Join(" ", o.TouchedDates)}"))})");
            Assert.Equal(a.Rows.Select(r => r.Bar.Timestamp).Order(), silver.Where(r => r.Bar.Ticker == "AAPL" && r.Bar.Timestamp >= start && r.Bar.Timestamp < start.AddDays(5)).Select(r => r.Bar.Timestamp).Order());
            Assert.Equal(b.Rows.Select(r => r.Bar.Timestamp).Order(), silver.Where(r => r.Bar.Ticker == "MSFT" && r.Bar.Timestamp >= start && r.Bar.Timestamp < start.AddDays(5)).Select(r => r.Bar.Timestamp).Order());
            Assert.All(outcomes, o => Assert.Equal(0, o.Records.Rejected));
            Assert.All(outcomes, o => Assert.Contains("rejected_" + SilverRules.TimestampAligned, o.Metrics.Keys));
        }
    }

    private sealed record Bronze(Guid ExecutionId, string Uri, TimeWindow Window, List<BarRecord> Rows);

    private static async Task<Bronze> BronzeAsync(FileSystemObjectStore store, string bucket, string ticker, DateTimeOffset from, int days)
    {
        var exec = Guid.NewGuid();
        var window = new TimeWindow(from, from.AddDays(days));
        var rows = Enumerable.Range(0, days * 24)
            .Select(h => new BarRecord(new QuoteBar(from.AddHours(h), ticker, 10, 11, 9, 10.5, null, 100 + h), exec, window.End.AddMinutes(5), "synthetic"))
            .ToList();
        using var buffer = new MemoryStream();
        await BarParquet.WriteAsync(buffer, rows);
        buffer.Position = 0;
        var stored = await store.UploadObjectAsync(bucket, ObjectLayout.BronzeObject(window.End, exec), "application/vnd.apache.parquet", buffer);
        return new Bronze(exec, stored.Uri, window, rows);
    }

    private static async Task<StageOutcome> RunAsync(TransformWork work, ExecutionLedger ledger, Core.Jobs.JobConfig job, Bronze bronze)
    {
        var claim = await ledger.ClaimAsync(new ClaimRequest(bronze.ExecutionId, Stage.Silver, job.JobName, null, null, null, null), CancellationToken.None);
        var upstream = new StageCompletedMessage
        {
            ExecutionId = bronze.ExecutionId,
            JobName = job.JobName,
            Stage = Stage.Bronze.ToWire(),
            Window = WindowDto.From(bronze.Window),
            Records = new RecordCounts(bronze.Rows.Count, bronze.Rows.Count, 0),
            Outputs = [bronze.Uri],
            CompletedAt = bronze.Window.End,
        };
        var context = new StageContext(ledger, claim.Lease!, job, new StageInput(bronze.ExecutionId, job.JobName, null, upstream), CancellationToken.None);
        await Task.Yield();
        return await work.ExecuteAsync(context);
    }

    private sealed class SlowUploadStore(FileSystemObjectStore inner, TimeSpan delay) : DelegatingObjectStore(inner)
    {
        public FileSystemObjectStore Files => inner;

        public override async Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default)
        {
            await Task.Delay(delay, cancellationToken);
            return await base.UploadObjectAsync(bucket, objectName, contentType, source, options, cancellationToken);
        }
    }
}
