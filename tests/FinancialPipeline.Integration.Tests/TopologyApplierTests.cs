using System.Net.Http.Json;
using System.Text.Json.Nodes;
using FinancialPipeline.PubSub;

namespace FinancialPipeline.Integration.Tests;

/// <summary>The topology as the real emulator holds it after <see cref="TopologyApplier"/>: every subscription read back.</summary>
[Collection(nameof(StackFixture))]
public sealed class TopologyApplierTests(StackFixture stack)
{
    [Fact]
    public async Task EverySubscription_IsCreatedWithTheTopologysMessageRetention_AndNeverExpires()
    {
        // Nothing is published, so nothing is pushed to this endpoint.
        var endpoint = new Uri("http://127.0.0.1:9/");
        var topology = PipelineTopology.Create(new TopologySettings
        {
            Prefix = StackFixture.UniqueName("r") + "-",
            ProjectId = "local-project",
            ExtractEndpoint = endpoint,
            TransformEndpoint = endpoint,
            AggregateEndpoint = endpoint,
            AlertEndpoint = endpoint,
            // Not the emulator's 7-day default: a value read back as 2 days was sent and taken, not defaulted.
            MessageRetention = TimeSpan.FromDays(2),
            StaleAfter = TimeSpan.FromSeconds(90),
            HeartbeatInterval = TimeSpan.FromSeconds(15),
        });
        var pubsub = PubSubRestClient.Create(new PubSubOptions { ProjectId = topology.ProjectId, EmulatorHost = stack.Infrastructure.EmulatorHost });
        using var http = new HttpClient { BaseAddress = new Uri($"http://{stack.Infrastructure.EmulatorHost}/") };

        await TopologyApplier.ApplyAsync(topology, pubsub, pubsub);
        try
        {
            Assert.Contains(topology.Subscriptions, s => s.SubscriptionId == topology.AlertsHoldSubscription);
            Assert.Contains(topology.Subscriptions, s => s.PushEndpoint is not null);
            foreach (var subscription in topology.Subscriptions)
            {
                var held = await http.GetFromJsonAsync<JsonObject>($"v1/{pubsub.SubscriptionName(subscription.SubscriptionId)}");
                Assert.Equal("172800s", held!["messageRetentionDuration"]?.GetValue<string>());
                // A policy without a ttl never expires; without any policy Pub/Sub deletes a subscription idle for 31 days.
                var expiration = Assert.IsType<JsonObject>(held["expirationPolicy"]);
                Assert.Null(expiration["ttl"]);
            }
        }
        finally
        {
            await TopologyApplier.DeleteAsync(topology, pubsub, pubsub);
        }
    }

    [Fact]
    public async Task IdsHoldingPercentAndPlus_ReachTheEmulatorUnderExactlyThoseNames()
    {
        // Pub/Sub ids may hold '%' and '+' (so may FP_TOPIC_PREFIX); unescaped in a URL path, '%41' would reach the
        // server as 'A' and '+' could be read as a space: the functions would publish to a topic gcloud never created.
        var unique = StackFixture.UniqueName("p");
        var topic = unique + "%41+start";
        var subscription = unique + "%25+hold";
        var pubsub = PubSubRestClient.Create(new PubSubOptions { ProjectId = "local-project", EmulatorHost = stack.Infrastructure.EmulatorHost });
        using var http = new HttpClient { BaseAddress = new Uri($"http://{stack.Infrastructure.EmulatorHost}/") };

        await pubsub.EnsureTopicAsync(topic);
        try
        {
            await pubsub.EnsureSubscriptionAsync(new SubscriptionSpec(subscription, topic, null, 10, null, null));
            await pubsub.PublishAsync(topic, [new PubsubMessage("hello"u8.ToArray(), new Dictionary<string, string>())]);

            var received = await pubsub.PullAsync(subscription, 10);

            Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(Assert.Single(received).Data.Span));
            var topics = await http.GetFromJsonAsync<JsonObject>("v1/projects/local-project/topics?pageSize=1000");
            var names = topics!["topics"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).ToList();
            Assert.Contains("projects/local-project/topics/" + topic, names);
            Assert.DoesNotContain("projects/local-project/topics/" + unique + "A+start", names);
        }
        finally
        {
            await pubsub.DeleteSubscriptionAsync(subscription);
            await pubsub.DeleteTopicAsync(topic);
        }
    }

    [Fact]
    public async Task ApplyingOverALeftoverTopology_PointsItsSubscriptionsAtTheNewEndpoints()
    {
        // What a killed `fp up` leaves in a shared emulator: the same names, pushing to a port nobody listens on.
        var prefix = StackFixture.UniqueName("l") + "-";
        var old = Topology(prefix, new Uri("http://127.0.0.1:9/"));
        var current = Topology(prefix, new Uri("http://127.0.0.1:10/"));
        var pubsub = PubSubRestClient.Create(new PubSubOptions { ProjectId = old.ProjectId, EmulatorHost = stack.Infrastructure.EmulatorHost });
        using var http = new HttpClient { BaseAddress = new Uri($"http://{stack.Infrastructure.EmulatorHost}/") };

        await TopologyApplier.ApplyAsync(old, pubsub, pubsub);
        try
        {
            await TopologyApplier.ApplyAsync(current, pubsub, pubsub);

            foreach (var subscription in current.Subscriptions)
            {
                var held = await http.GetFromJsonAsync<JsonObject>($"v1/{pubsub.SubscriptionName(subscription.SubscriptionId)}");
                Assert.Equal(subscription.PushEndpoint, held!["pushConfig"]?["pushEndpoint"]?.GetValue<string>());
                Assert.Equal(subscription.AckDeadlineSeconds, held["ackDeadlineSeconds"]!.GetValue<int>());
            }
        }
        finally
        {
            await TopologyApplier.DeleteAsync(current, pubsub, pubsub);
        }
    }

    private static PipelineTopology Topology(string prefix, Uri endpoint) => PipelineTopology.Create(new TopologySettings
    {
        Prefix = prefix,
        ProjectId = "local-project",
        ExtractEndpoint = endpoint,
        TransformEndpoint = endpoint,
        AggregateEndpoint = endpoint,
        AlertEndpoint = endpoint,
        AckDeadlineSeconds = endpoint.Port * 10,
        StaleAfter = TimeSpan.FromSeconds(90),
        HeartbeatInterval = TimeSpan.FromSeconds(15),
    });
}
