using FinancialPipeline.PubSub;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// A start topic of its own with a pull subscription on it, so a test sees what an operator command really published;
/// the topic's prefix names it to the command (<see cref="StackFixture.OperatorVariables(string)"/>).
/// </summary>
internal sealed class StartTopicWatch : IAsyncDisposable
{
    private readonly PubSubRestClient _pubsub;
    private readonly string _subscription;
    private readonly string _topic;

    private StartTopicWatch(PubSubRestClient pubsub, string prefix)
    {
        _pubsub = pubsub;
        Prefix = prefix;
        _topic = new StageTopics(prefix).Start;
        _subscription = prefix + "watch";
    }

    public string Prefix { get; }

    public static async Task<StartTopicWatch> CreateAsync(StackFixture stack, string prefix)
    {
        var watch = new StartTopicWatch(PubSubRestClient.Create(new PubSubOptions { ProjectId = "local-project", EmulatorHost = stack.Infrastructure.EmulatorHost }), prefix);
        await watch._pubsub.EnsureTopicAsync(watch._topic);
        await watch._pubsub.EnsureSubscriptionAsync(new SubscriptionSpec(watch._subscription, watch._topic, PushEndpoint: null, 10, null, null));
        return watch;
    }

    /// <summary>What arrived since the last pull, acknowledged.</summary>
    public async Task<IReadOnlyList<ReceivedMessage>> PullAsync()
    {
        var received = await _pubsub.PullAsync(_subscription, 100);
        if (received.Count > 0)
        {
            await _pubsub.AcknowledgeAsync(_subscription, received.Select(r => r.AckId).ToList());
        }

        return received;
    }

    public async ValueTask DisposeAsync()
    {
        await _pubsub.DeleteSubscriptionAsync(_subscription);
        await _pubsub.DeleteTopicAsync(_topic);
    }
}
