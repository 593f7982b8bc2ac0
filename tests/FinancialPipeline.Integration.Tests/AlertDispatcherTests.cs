using System.Net;
using System.Net.Sockets;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Hosting;
using FinancialPipeline.Stages.Alerts;
using Microsoft.Extensions.Logging.Abstractions;

namespace FinancialPipeline.Integration.Tests;

/// <summary>Claim-before-post on real PostgreSQL against the Slack stand-in: every way a post can fail is retried, a sent alert is not.</summary>
[Collection(nameof(StackFixture))]
public sealed class AlertDispatcherTests(StackFixture stack)
{
    [Fact]
    public async Task ConnectionRefused_MarksFailed_ThenTheRedeliveryPosts_ThenFurtherRedeliveriesDoNot()
    {
        var alert = Alert();
        var store = new AlertNotificationStore(stack.DataSource, TimeProvider.System);
        await using var slack = await SlackReceiver.StartAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };

        var refused = new AlertDispatcher(store, new SlackWebhookChannel(http, ClosedPortUrl()), NullLogger<AlertDispatcher>.Instance);
        var failure = await Assert.ThrowsAsync<AlertDeliveryException>(() => refused.SendAsync(alert, CancellationToken.None));
        Assert.Contains("Slack webhook at 127.0.0.1 unreachable (ConnectionError: ConnectionRefused)", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("/services/", failure.Message, StringComparison.Ordinal);
        var failed = await store.GetAsync(alert.DedupeKey, CancellationToken.None);
        Assert.Equal(("FAILED", 1), (failed!.Status, failed.Attempts));
        Assert.Contains("unreachable", failed.LastError, StringComparison.Ordinal);

        var working = new AlertDispatcher(store, new SlackWebhookChannel(http, slack.WebhookUrl), NullLogger<AlertDispatcher>.Instance);
        await working.SendAsync(alert, CancellationToken.None);
        await working.SendAsync(alert, CancellationToken.None);

        Assert.Single(slack.Delivered);
        var sent = await store.GetAsync(alert.DedupeKey, CancellationToken.None);
        Assert.Equal(("SENT", 2, "slack", (string?)null), (sent!.Status, sent.Attempts, sent.Channel, sent.LastError));
    }

    [Fact]
    public async Task HungWebhook_TimesOut_AndIsRetryable()
    {
        var alert = Alert();
        var store = new AlertNotificationStore(stack.DataSource, TimeProvider.System);
        await using var slack = await SlackReceiver.StartAsync();
        slack.AnswerDelay = TimeSpan.FromSeconds(10);
        using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(500) };
        var dispatcher = new AlertDispatcher(store, new SlackWebhookChannel(http, slack.WebhookUrl), NullLogger<AlertDispatcher>.Instance);

        var failure = await Assert.ThrowsAsync<AlertDeliveryException>(() => dispatcher.SendAsync(alert, CancellationToken.None));

        Assert.Contains("did not answer", failure.Message, StringComparison.Ordinal);
        Assert.Equal("FAILED", (await store.GetAsync(alert.DedupeKey, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task RequestAbortedWhilePosting_ReleasesTheClaim_SoTheRedeliveryPostsAtOnce()
    {
        var alert = Alert();
        var store = new AlertNotificationStore(stack.DataSource, TimeProvider.System);
        await using var slack = await SlackReceiver.StartAsync();
        slack.AnswerDelay = TimeSpan.FromSeconds(30);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var dispatcher = new AlertDispatcher(store, new SlackWebhookChannel(http, slack.WebhookUrl), NullLogger<AlertDispatcher>.Instance);
        using var requestAborted = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dispatcher.SendAsync(alert, requestAborted.Token));

        var released = await store.GetAsync(alert.DedupeKey, CancellationToken.None);
        Assert.Equal("FAILED", released!.Status); // not SENDING until the claim goes stale
        Assert.StartsWith("aborted", released.LastError, StringComparison.Ordinal);
        slack.AnswerDelay = TimeSpan.Zero;
        await dispatcher.SendAsync(alert, CancellationToken.None);
        var sent = await store.GetAsync(alert.DedupeKey, CancellationToken.None);
        Assert.Equal(("SENT", 2), (sent!.Status, sent.Attempts));
    }

    [Fact]
    public async Task AlertBeingPostedElsewhere_IsRetriedLater_NotPostedTwice()
    {
        var alert = Alert();
        var store = new AlertNotificationStore(stack.DataSource, TimeProvider.System);
        var first = await store.ClaimAsync(new AlertNotification(alert.DedupeKey, alert.Kind, alert.ExecutionId, "silver", alert.Text), CancellationToken.None);
        await using var slack = await SlackReceiver.StartAsync();
        using var http = new HttpClient();
        var dispatcher = new AlertDispatcher(store, new SlackWebhookChannel(http, slack.WebhookUrl), NullLogger<AlertDispatcher>.Instance);

        Assert.Equal(AlertClaimOutcome.Claimed, first.Outcome);
        await Assert.ThrowsAsync<RetryLaterException>(() => dispatcher.SendAsync(alert, CancellationToken.None));
        Assert.Empty(slack.Requests);
    }

    private static AlertMessage Alert() =>
        AlertComposer.ForTakeover(new TakeoverAlertEvent(Guid.NewGuid(), "financial_extract", Stage.Silver, 2, 90, TimeProvider.System.GetUtcNow()));

    /// <summary>A loopback port nobody listens on (bound, read, released).</summary>
    private static Uri ClosedPortUrl()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new Uri($"http://127.0.0.1:{((IPEndPoint)socket.LocalEndPoint!).Port}/services/T/B/x");
    }
}
