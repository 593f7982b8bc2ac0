using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages;
using FinancialPipeline.Storage;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// ARCHITECTURE.md stage rules 2 and 3 at stage level, on the real Extract host: a running stage heartbeats, a worker
/// whose row is taken over stops and writes nothing more, and a crashed worker's message is still being redelivered
/// when its row goes stale, so a redelivery takes it over without an operator.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class ZombieTakeoverTests(StackFixture stack)
{
    /// <summary>
    /// The old worker is held mid-fetch (before it writes anything) while another claimer takes its row over. It must
    /// notice on its own (its heartbeat finds the row is no longer its) and end its request, without writing bronze,
    /// marking SUCCESS or publishing a completion.
    /// </summary>
    [Fact]
    public async Task AWorkerWhoseRowIsTakenOver_StopsOnItsOwn_AndWritesNothing()
    {
        var gate = new FetchGate(honourCancellation: true);
        var (pipeline, store, watch) = await StartGatedExtractAsync(gate);
        await using var _ = pipeline;
        var (start, push) = await PushAndWaitInsideTheFetchAsync(pipeline, gate);

        var takeover = await TakeOverAsync(start);

        // Nothing releases the gate: only the old worker's own heartbeat can end its request.
        using var answer = await Eventually.WaitAsync(async () => push.IsCompleted ? await push : null, PipelineDriver.RunTimeout, "the old worker to notice it lost its row and end its request (its heartbeat, every 1 s, should)");
        Assert.False(answer.IsSuccessStatusCode, $"the old worker answered {(int)answer.StatusCode} after losing its row");
        await AssertOldWorkerWroteNothingAsync(pipeline, store, watch, start, takeover);
        gate.Release();
    }

    /// <summary>
    /// The same, with the old worker let go right after the takeover and a fetch that does not stop when cancelled: the
    /// check before the bronze upload (or the cancelled token) must still keep it from writing.
    /// </summary>
    [Fact]
    public async Task AWorkerLetGoAfterItsRowIsTakenOver_WritesNoBronze_AndPublishesNothing()
    {
        var gate = new FetchGate(honourCancellation: false);
        var (pipeline, store, watch) = await StartGatedExtractAsync(gate);
        await using var _ = pipeline;
        var (start, push) = await PushAndWaitInsideTheFetchAsync(pipeline, gate);

        var takeover = await TakeOverAsync(start);
        gate.Release();

        using var answer = await push.WaitAsync(PipelineDriver.RunTimeout);
        Assert.False(answer.IsSuccessStatusCode, $"the old worker answered {(int)answer.StatusCode} after losing its row");
        await AssertOldWorkerWroteNothingAsync(pipeline, store, watch, start, takeover);
    }

    /// <summary>
    /// A stage held longer than the zombie threshold keeps its row fresh: heartbeat_at moves forward while the work runs,
    /// so a concurrent claim past the threshold is still Busy, never a takeover of a healthy stage.
    /// </summary>
    [Fact]
    public async Task ARunningStage_HeartbeatsWhileItWorks_SoItIsNeverTakenOverPastTheThreshold()
    {
        var staleAfter = TimeSpan.FromSeconds(3);
        var gate = new FetchGate(honourCancellation: true);
        var (pipeline, _, _) = await StartGatedExtractAsync(gate, o => o with { HeartbeatInterval = TimeSpan.FromSeconds(1), StaleAfter = staleAfter });
        await using var __ = pipeline;
        var driver = new PipelineDriver(stack, pipeline);
        var (start, push) = await PushAndWaitInsideTheFetchAsync(pipeline, gate);
        var claimed = (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None))!;

        // Held until the row has been heartbeated past the threshold: without heartbeats it would be a zombie by then.
        var fresh = await Eventually.WaitAsync(
            async () => await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None) is { } row && row.HeartbeatAt > claimed.StartedAt + staleAfter + TimeSpan.FromSeconds(1) ? row : null,
            PipelineDriver.RunTimeout,
            "bronze's heartbeat_at to move past its claim time + the stale threshold while the fetch is held");
        Assert.Equal(("RUNNING", 1), (fresh.Status, fresh.Attempt));

        var concurrent = await new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions { StaleAfter = staleAfter })
            .ClaimAsync(new ClaimRequest(start.ExecutionId, Stage.Bronze, start.JobName, null, null, null, null), CancellationToken.None);
        Assert.Equal(ClaimOutcome.Busy, concurrent.Outcome);

        gate.Release();
        using var answer = await push.WaitAsync(PipelineDriver.RunTimeout);
        Assert.True(answer.IsSuccessStatusCode, $"the held stage answered {(int)answer.StatusCode}");
        var bronze = (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        Assert.Equal(("SUCCESS", 1, "new"), (bronze.Status, bronze.Attempt, bronze.ClaimReason));
    }

    /// <summary>
    /// A worker that died mid-stage (its row claimed, then silent) with its message still in Pub/Sub: the product's
    /// retry policy keeps redelivering past the stale threshold, so a redelivery takes the row over and the chain
    /// finishes by itself. With the former local policy (1 s doubling to 2 s) the five deliveries were spent in about
    /// 7 s and the message was dead-lettered, leaving the zombie to an operator's replay.
    /// </summary>
    [Fact]
    public async Task ACrashedWorkersMessage_IsStillRedeliveredWhenTheRowGoesStale_AndTheRedeliveryTakesItOver()
    {
        var job = await stack.CreateJobAsync();
        var product = new LocalPipelineOptions { DataDirectory = "unused" };
        await using var pipeline = await stack.StartPipelineAsync(options: o => o with { RetryPolicy = product.RetryPolicy, MaxDeliveryAttempts = product.MaxDeliveryAttempts });
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        // The crashed worker: claimed just now, never heartbeats again.
        var crashed = await new ExecutionLedger(stack.DataSource, TimeProvider.System, new LedgerOptions())
            .ClaimAsync(new ClaimRequest(start.ExecutionId, Stage.Bronze, start.JobName, null, null, null, null), CancellationToken.None);
        Assert.Equal(ClaimOutcome.Claimed, crashed.Outcome);

        await driver.PublishStartAsync(start);
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);

        var bronze = (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        Assert.Equal(("SUCCESS", 2, "takeover"), (bronze.Status, bronze.Attempt, bronze.ClaimReason));
        Assert.Empty(await driver.PullDeadLettersAsync());
    }

    /// <summary>The product's local defaults pass the takeover check; the former ones, and a threshold past the retries, are refused naming the settings.</summary>
    [Fact]
    public async Task ARetryPolicyThatGivesUpBeforeAZombieIsStale_IsRefused_UnlessWaived()
    {
        var product = new LocalPipelineOptions { DataDirectory = "unused" };
        Assert.Null(LocalPipeline.TakeoverProblem(product));
        Assert.Equal(TimeSpan.FromSeconds(65), DeliverySchedule.Span(product.RetryPolicy, product.MaxDeliveryAttempts)); // 5 + 10 + 20 + 30

        var former = product with { RetryPolicy = new RetryPolicySpec(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)) };
        var problem = LocalPipeline.TakeoverProblem(former);
        Assert.NotNull(problem);
        Assert.Contains("max_delivery_attempts=5 with retry backoff minimum 1 s / maximum 2 s redelivers a message for 7 s (1 + 2 + 2 + 2 s)", problem, StringComparison.Ordinal);
        Assert.Contains("FP_STALE_AFTER_SECONDS=30 + FP_HEARTBEAT_SECONDS=2 = 32 s", problem, StringComparison.Ordinal);
        Assert.NotNull(LocalPipeline.TakeoverProblem(product with { StaleAfter = TimeSpan.FromSeconds(64) }));
        Assert.Null(LocalPipeline.TakeoverProblem(former with { AllowDeadLetterBeforeTakeover = true }));

        // fp run / fp up fit their retries to a longer threshold instead: 600 + 2 s needs 15 × 41 s.
        Assert.Equal(product.RetryPolicy, DeliverySchedule.Outlasting(product.RetryPolicy, 5, product.StaleAfter, product.HeartbeatInterval));
        var fitted = DeliverySchedule.Outlasting(product.RetryPolicy, 5, TimeSpan.FromSeconds(600), TimeSpan.FromSeconds(2));
        Assert.Equal(new RetryPolicySpec(TimeSpan.FromSeconds(41), TimeSpan.FromSeconds(600)), fitted);
        Assert.Equal([41, 82, 164, 328], DeliverySchedule.Backoffs(fitted, 5).Select(b => b.TotalSeconds));
        Assert.Null(LocalPipeline.TakeoverProblem(product with { StaleAfter = TimeSpan.FromSeconds(600), RetryPolicy = fitted }));
        // Past what four backoffs of at most 600 s can cover, nothing fits: the policy stays and the check refuses it.
        Assert.Equal(product.RetryPolicy, DeliverySchedule.Outlasting(product.RetryPolicy, 5, TimeSpan.FromSeconds(2500), TimeSpan.FromSeconds(2)));

        // Refused before anything starts, and by the topology itself.
        var refused = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => LocalPipeline.StartAsync(stack.Infrastructure, former));
        Assert.Contains("FP_STALE_AFTER_SECONDS", refused.Message, StringComparison.Ordinal);
        var endpoint = new Uri("http://127.0.0.1:9/");
        var topology = Assert.Throws<ArgumentOutOfRangeException>(() => PipelineTopology.Create(new TopologySettings
        {
            ProjectId = "local-project",
            ExtractEndpoint = endpoint,
            TransformEndpoint = endpoint,
            AggregateEndpoint = endpoint,
            StaleAfter = TimeSpan.FromSeconds(200),
            HeartbeatInterval = TimeSpan.FromSeconds(15),
        }));
        Assert.Contains("redelivers a message for 150 s (10 + 20 + 40 + 80 s), less than FP_STALE_AFTER_SECONDS=200", topology.Message, StringComparison.Ordinal);
    }

    /// <summary>A pipeline whose Extract fetches wait at <paramref name="gate"/> and whose uploads are recorded; a pull subscription watches bronze completions.</summary>
    private async Task<(LocalPipeline Pipeline, RecordingStore Store, string Watch)> StartGatedExtractAsync(FetchGate gate, Func<LocalPipelineOptions, LocalPipelineOptions>? options = null)
    {
        var store = new RecordingStore();
        var pipeline = await stack.StartPipelineAsync(
            (function, services) =>
            {
                if (function == "extract")
                {
                    // First in the list, so it is the provider the job's 'synthetic' resolves to.
                    services.Insert(0, ServiceDescriptor.Singleton<IQuoteProvider>(new GatedProvider(new SyntheticQuoteProvider(), gate)));
                    services.AddSingleton<IObjectStore>(sp => store.Wrap(new FileSystemObjectStore(sp.GetRequiredService<PipelineSettings>().BucketsRoot)));
                }
            },
            options);
        var watch = pipeline.Settings.TopicPrefix + "bronze-watch";
        await pipeline.PubSub.EnsureSubscriptionAsync(new SubscriptionSpec(watch, pipeline.Topology.BronzeCompletedTopic, null, 60, null, null));
        return (pipeline, store, watch);
    }

    /// <summary>Pushes a start message straight to Extract (no Pub/Sub redelivery) and waits until its worker is held at the gate.</summary>
    private async Task<(StartMessage Start, Task<HttpResponseMessage> Push)> PushAndWaitInsideTheFetchAsync(LocalPipeline pipeline, FetchGate gate)
    {
        var job = await stack.CreateJobAsync();
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var push = http.PostAsync(pipeline.HostAddresses[0], new StringContent(
            $$"""{"message":{"data":"{{Convert.ToBase64String(start.ToUtf8Json())}}","messageId":"{{Guid.NewGuid():N}}"},"subscription":"projects/local-project/subscriptions/zombie-test"}""",
            Encoding.UTF8,
            "application/json"));
        _ = push.ContinueWith(_ => http.Dispose(), TaskScheduler.Default);
        await gate.Entered.Task.WaitAsync(PipelineDriver.RunTimeout);
        return (start, push);
    }

    /// <summary>Another claimer whose clock is past the stale threshold takes the row over (attempt 2); it does no work.</summary>
    private async Task<Lease> TakeOverAsync(StartMessage start)
    {
        var later = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddHours(1));
        var claim = await new ExecutionLedger(stack.DataSource, later, new LedgerOptions { StaleAfter = TimeSpan.FromSeconds(20) })
            .ClaimAsync(new ClaimRequest(start.ExecutionId, Stage.Bronze, start.JobName, null, null, null, null), CancellationToken.None);
        Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
        Assert.Equal((2, "takeover"), (claim.Lease!.Attempt, claim.Lease.ClaimReason));
        return claim.Lease;
    }

    private async Task AssertOldWorkerWroteNothingAsync(LocalPipeline pipeline, RecordingStore store, string watch, StartMessage start, Lease takeover)
    {
        Assert.Empty(store.Uploads); // no bronze object, of this execution or any other
        var row = (await new PipelineDriver(stack, pipeline).Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None))!;
        // Still the new owner's: not SUCCESS, no completion, not marked FAILED by the old worker.
        Assert.Equal(("RUNNING", takeover.Attempt, "takeover", (string?)null, (DateTimeOffset?)null), (row.Status, row.Attempt, row.ClaimReason, row.CompletionJson, row.CompletionPublishedAt));
        Assert.Null(row.Error);
        var completions = await pipeline.PubSub.PullAsync(watch, 100);
        Assert.DoesNotContain(completions, m => m.Attributes.GetValueOrDefault("execution_id") == start.ExecutionId.ToString("D"));
    }

    /// <summary>Holds every fetch until released; <see cref="Entered"/> fires at the first.</summary>
    private sealed class FetchGate(bool honourCancellation)
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _released.TrySetResult();

        public async Task WaitAsync(CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await (honourCancellation ? _released.Task.WaitAsync(cancellationToken) : _released.Task);
        }
    }

    private sealed class GatedProvider(IQuoteProvider inner, FetchGate gate) : IQuoteProvider
    {
        public string Name => inner.Name;

        public async Task<TickerQuotes> FetchAsync(string ticker, TimeWindow window, TimeSpan barSize, CancellationToken cancellationToken)
        {
            await gate.WaitAsync(cancellationToken);
            return await inner.FetchAsync(ticker, window, barSize, CancellationToken.None);
        }
    }

    /// <summary>Records every upload that reaches the store.</summary>
    private sealed class RecordingStore
    {
        private readonly List<string> _uploads = [];

        public IReadOnlyList<string> Uploads
        {
            get
            {
                lock (_uploads)
                {
                    return [.. _uploads];
                }
            }
        }

        public IObjectStore Wrap(IObjectStore inner) => new Store(this, inner);

        private sealed class Store(RecordingStore owner, IObjectStore inner) : DelegatingObjectStore(inner)
        {
            public override Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default)
            {
                lock (owner._uploads)
                {
                    owner._uploads.Add($"{bucket}/{objectName}");
                }

                return base.UploadObjectAsync(bucket, objectName, contentType, source, options, cancellationToken);
            }
        }
    }
}
