using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.DevServices;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Integration.Tests;

/// <summary>Publishing and observing helpers over a running <see cref="LocalPipeline"/>.</summary>
internal sealed class PipelineDriver(StackFixture stack, LocalPipeline pipeline)
{
    public static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    public ExecutionLedger Ledger { get; } = new(stack.DataSource, TimeProvider.System, new LedgerOptions { StaleAfter = TimeSpan.FromSeconds(20) });

    public async Task<string> PublishStartAsync(StartMessage start) =>
        (await pipeline.PubSub.PublishAsync(pipeline.Topology.StartTopic, [new PubsubMessage(start.ToUtf8Json(), start.Attributes())]))[0];

    public async Task<string> PublishRawAsync(byte[] data, IReadOnlyDictionary<string, string>? attributes = null) =>
        (await pipeline.PubSub.PublishAsync(pipeline.Topology.StartTopic, [new PubsubMessage(data, attributes ?? new Dictionary<string, string>())]))[0];

    /// <summary>Gold SUCCESS with its completion publish recorded: the chain's last write, so the ledger holds still after.</summary>
    public Task WaitForGoldSuccessAsync(Guid executionId) =>
        Eventually.WaitAsync(
            async () => (await Ledger.GetAsync(executionId, Stage.Gold, CancellationToken.None)) is { Status: "SUCCESS", CompletionPublishedAt: not null },
            RunTimeout,
            $"gold SUCCESS of {executionId}, its completion published");

    /// <summary>Pulls gold-completed events until <paramref name="count"/> for the execution have been seen.</summary>
    public async Task<List<StageCompletedMessage>> WaitForGoldCompletedAsync(Guid executionId, int count)
    {
        var seen = new List<StageCompletedMessage>();
        await Eventually.WaitAsync(
            async () =>
            {
                var received = await pipeline.PubSub.PullAsync(pipeline.Topology.GoldCompletedWatchSubscription, 100);
                await pipeline.PubSub.AcknowledgeAsync(pipeline.Topology.GoldCompletedWatchSubscription, received.Select(r => r.AckId).ToList());
                seen.AddRange(received.Select(r => StageCompletedMessage.Parse(r.Data, Stage.Gold)).Where(m => m.ExecutionId == executionId));
                return seen.Count >= count;
            },
            RunTimeout,
            $"{count} gold-completed event(s) for {executionId}");
        return seen;
    }

    public Task<IReadOnlyList<ReceivedMessage>> PullDeadLettersAsync() => PullHeldAsync(pipeline.Topology.DeadLetterHoldSubscription);

    /// <summary>What the alerts topic's hold kept (zombie takeovers), as <c>gcloud pubsub subscriptions pull</c> would show it.</summary>
    public Task<IReadOnlyList<ReceivedMessage>> PullHeldAlertsAsync() => PullHeldAsync(pipeline.Topology.AlertsHoldSubscription);

    private async Task<IReadOnlyList<ReceivedMessage>> PullHeldAsync(string subscription)
    {
        var received = await pipeline.PubSub.PullAsync(subscription, 100);
        await pipeline.PubSub.AcknowledgeAsync(subscription, received.Select(r => r.AckId).ToList());
        return received;
    }
}
