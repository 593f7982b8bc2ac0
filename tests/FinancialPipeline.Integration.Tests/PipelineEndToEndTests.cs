using DuckDB.NET.Data;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.PubSub;
using Microsoft.Extensions.DependencyInjection;

namespace FinancialPipeline.Integration.Tests;

[Collection(nameof(StackFixture))]
public sealed class PipelineEndToEndTests(StackFixture stack)
{
    [Fact]
    public async Task OneStartMessage_ProducesBronzeSilverGoldSuccess_AndAGoldCompletedEvent()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, TimeProvider.System.GetUtcNow(), null);

        await driver.PublishStartAsync(start);
        var events = await driver.WaitForGoldCompletedAsync(start.ExecutionId, 1);

        var rows = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        Assert.Equal(["bronze", "silver", "gold"], rows.Select(r => r.Stage));
        Assert.All(rows, r => Assert.Equal("SUCCESS", r.Status));
        Assert.All(rows, r => Assert.Equal(1, r.Attempt));
        // Gold records its publish after the event went out, so only the stages before it are sure to show it here.
        Assert.All(rows.Take(2), r => Assert.NotNull(r.CompletionPublishedAt));
        Assert.True(rows[0].Records > 0, "bronze wrote no rows");
        Assert.Equal(rows[0].Records, rows[1].Records);
        var gold = Assert.Single(events);
        Assert.Equal("gold", gold.Stage);
        Assert.True(gold.Records.Written > 0);
        Assert.NotNull(gold.NewestTimestamp);

        var bronzePrefix = ObjectLayout.BronzePrefix(rows[0].EndTime!.Value, start.ExecutionId);
        Assert.True(File.Exists(Path.Combine(pipeline.Settings.BucketsRoot, job.BucketName, bronzePrefix, "part-00000.parquet")));
        Assert.NotEmpty(Directory.GetDirectories(Path.Combine(pipeline.Settings.BucketsRoot, job.SilverBucketName, ObjectLayout.Dataset), "date=*"));
        Assert.Equal(rows[2].Records, await GoldRowCountAsync(pipeline.Settings.DuckDbPath, job.Tickers));
    }

    [Fact]
    public async Task SameStartMessageFiveTimes_IncludingConcurrently_ProcessesOnce()
    {
        var job = await stack.CreateJobAsync();
        await using var pipeline = await stack.StartPipelineAsync();
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, TimeProvider.System.GetUtcNow(), null);

        await driver.PublishStartAsync(start);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);
        var goldRowsAfterFirst = await GoldRowCountAsync(pipeline.Settings.DuckDbPath, job.Tickers);
        await driver.PublishStartAsync(start);
        await Task.WhenAll(driver.PublishStartAsync(start), driver.PublishStartAsync(start), driver.PublishStartAsync(start));

        // Every delivery ends in a (re-)emitted gold-completed event: 5 publishes → 5 events.
        var events = await driver.WaitForGoldCompletedAsync(start.ExecutionId, 5);

        var rows = await driver.Ledger.ListAsync(start.ExecutionId, CancellationToken.None);
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Equal(("SUCCESS", 1), (r.Status, r.Attempt)));
        Assert.Single(events.Select(e => e.CompletedAt).Distinct());
        var bronzeDir = Path.Combine(pipeline.Settings.BucketsRoot, job.BucketName, ObjectLayout.BronzePrefix(rows[0].EndTime!.Value, start.ExecutionId));
        Assert.Single(Directory.GetFiles(bronzeDir));
        Assert.Equal(goldRowsAfterFirst, await GoldRowCountAsync(pipeline.Settings.DuckDbPath, job.Tickers));
    }

    [Fact]
    public async Task CrashBetweenCommitAndPublish_RedeliveryReemitsWithoutRedoingTheWork()
    {
        var job = await stack.CreateJobAsync();
        var failing = new FailFirstPublish();
        await using var pipeline = await stack.StartPipelineAsync((function, services) =>
        {
            if (function == "extract")
            {
                services.AddSingleton<IPublisherClient>(sp => failing.Wrap(PubSubRestClient.Create(new PubSubOptions
                {
                    ProjectId = "local-project",
                    EmulatorHost = stack.Infrastructure.EmulatorHost,
                })));
            }
        });
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, TimeProvider.System.GetUtcNow(), null);

        await driver.PublishStartAsync(start);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);

        Assert.Equal(1, failing.Failures);
        var bronze = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("SUCCESS", 1), (bronze!.Status, bronze.Attempt));
        Assert.True(failing.Publishes >= 2, "the completion event was not re-emitted");
        Assert.NotNull(bronze.CompletionPublishedAt); // recorded by the re-emit that got it out
    }

    internal static async Task<long> GoldRowCountAsync(string duckDbPath, IReadOnlyList<string> tickers)
    {
        await using var conn = new DuckDBConnection($"Data Source={duckDbPath};ACCESS_MODE=READ_ONLY");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM financial_data_hour WHERE list_contains($tickers, ticker)";
        cmd.Parameters.Add(new DuckDBParameter("tickers", tickers.ToList()));
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Simulates a crash after the ledger commit: the first completion publish throws.</summary>
    private sealed class FailFirstPublish
    {
        private int _publishes;

        public int Publishes => _publishes;

        public int Failures { get; private set; }

        public IPublisherClient Wrap(IPublisherClient inner) => new Publisher(this, inner);

        private sealed class Publisher(FailFirstPublish owner, IPublisherClient inner) : IPublisherClient
        {
            public string TopicName(string topicId) => inner.TopicName(topicId);

            public async Task<IReadOnlyList<string>> PublishAsync(string topicId, IReadOnlyList<PubsubMessage> messages, CancellationToken cancellationToken = default)
            {
                if (Interlocked.Increment(ref owner._publishes) == 1)
                {
                    owner.Failures++;
                    throw new PubSubException("injected: process died between ledger commit and publish", 503);
                }

                return await inner.PublishAsync(topicId, messages, cancellationToken);
            }

            public Task EnsureTopicAsync(string topicId, CancellationToken cancellationToken = default) => inner.EnsureTopicAsync(topicId, cancellationToken);

            public Task DeleteTopicAsync(string topicId, CancellationToken cancellationToken = default) => inner.DeleteTopicAsync(topicId, cancellationToken);
        }
    }
}
