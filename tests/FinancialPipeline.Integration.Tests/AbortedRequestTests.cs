using System.Net;
using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Runner;
using FinancialPipeline.Storage;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// A push whose request goes away mid-stage (the push deadline passed, the caller disconnected, the instance is
/// shutting down) must not leave its row RUNNING: every redelivery would be answered 409 until the heartbeat went
/// stale, and the run would then be reported as a zombie.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class AbortedRequestTests(StackFixture stack)
{
    [Fact]
    public async Task RequestAbortedMidStage_MarksTheRowFailed_AndTheNextDeliveryRetriesAtOnce()
    {
        var job = await stack.CreateJobAsync();
        var store = new BlockFirstUpload();
        await using var pipeline = await stack.StartPipelineAsync((function, services) =>
        {
            if (function == "extract")
            {
                services.AddSingleton<IObjectStore>(sp => store.Wrap(new FileSystemObjectStore(sp.GetRequiredService<PipelineSettings>().BucketsRoot)));
            }
        });
        var driver = new PipelineDriver(stack, pipeline);
        var start = new StartMessage(Guid.NewGuid(), job.JobName, null, null);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var extract = pipeline.HostAddresses[0];

        using (var abort = new CancellationTokenSource())
        {
            var push = http.PostAsync(extract, PushBody(start), abort.Token);
            await store.Entered.Task.WaitAsync(PipelineDriver.RunTimeout); // claimed, fetched, writing bronze
            Assert.Equal("RUNNING", (await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None))!.Status);
            await abort.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => push);
        }

        var failed = await Eventually.WaitAsync(
            async () => await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None) is { Status: "FAILED" } row ? row : null,
            PipelineDriver.RunTimeout,
            "bronze FAILED after the aborted request");
        Assert.Equal((1, StageRunner.AbortedError), (failed.Attempt, failed.Error));

        // The redelivery is claimed at once (not 409 until the heartbeat is stale, not a takeover).
        using var retried = await http.PostAsync(extract, PushBody(start));
        Assert.Equal(HttpStatusCode.NoContent, retried.StatusCode);
        var bronze = await driver.Ledger.GetAsync(start.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("SUCCESS", 2, "retry"), (bronze!.Status, bronze.Attempt, bronze.ClaimReason));
        await driver.WaitForGoldSuccessAsync(start.ExecutionId);
    }

    private static StringContent PushBody(StartMessage start) => new(
        $$"""{"message":{"data":"{{Convert.ToBase64String(start.ToUtf8Json())}}","messageId":"{{Guid.NewGuid():N}}"},"subscription":"projects/local-project/subscriptions/aborted-test"}""",
        Encoding.UTF8,
        "application/json");

    /// <summary>The first upload waits until its request is cancelled; later ones pass.</summary>
    private sealed class BlockFirstUpload
    {
        private int _calls;

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IObjectStore Wrap(IObjectStore inner) => new Store(this, inner);

        private sealed class Store(BlockFirstUpload owner, IObjectStore inner) : DelegatingObjectStore(inner)
        {
            public override async Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default)
            {
                if (Interlocked.Increment(ref owner._calls) == 1)
                {
                    owner.Entered.TrySetResult();
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }

                return await base.UploadObjectAsync(bucket, objectName, contentType, source, options, cancellationToken);
            }
        }
    }
}
