using System.Net.Http.Json;
using System.Net.Sockets;
using FinancialPipeline.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Stages.Alerts;

/// <summary>Settings of the Alert function (README, Configuration). The webhook URL is a secret: never logged.</summary>
public sealed record AlertSettings
{
    public const string WebhookVariable = "FP_SLACK_WEBHOOK_URL";

    /// <summary>Slack incoming webhook; null → alerts are logged instead of posted.</summary>
    public Uri? SlackWebhookUrl { get; init; }

    /// <summary>A post that takes longer counts as failed (and the message is redelivered); well under the push ack deadline.</summary>
    public TimeSpan PostTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static AlertSettings FromConfiguration(IConfiguration? config)
    {
        var raw = config?[WebhookVariable];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return new AlertSettings();
        }

        // The value is secret: errors name the variable and the rule, never the value.
        if (!Uri.TryCreate(raw.Trim(), UriKind.Absolute, out var url))
        {
            throw new InvalidOperationException($"{WebhookVariable} is not an absolute URL");
        }

        if (url.Scheme != Uri.UriSchemeHttps && !(url.Scheme == Uri.UriSchemeHttp && url.IsLoopback))
        {
            throw new InvalidOperationException($"{WebhookVariable} must be an https URL (plain http is allowed for loopback receivers only)");
        }

        return new AlertSettings { SlackWebhookUrl = url };
    }
}

/// <summary>Where an alert goes. Throws <see cref="AlertDeliveryException"/> when it did not get there.</summary>
public interface IAlertChannel
{
    /// <summary>Recorded in <c>alert_notification.channel</c>: <c>slack</c> or <c>log</c>.</summary>
    string Name { get; }

    Task PostAsync(AlertMessage alert, CancellationToken cancellationToken);
}

/// <summary>
/// The alert did not reach its channel (webhook 4xx/5xx, timeout, connection refused): the message must be redelivered.
/// An environment failure: the host logs the message (status or socket error, never the webhook URL) in one line.
/// </summary>
public sealed class AlertDeliveryException : EnvironmentFailureException
{
    public AlertDeliveryException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    public AlertDeliveryException()
    {
    }

    public AlertDeliveryException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// Posts to a Slack incoming webhook: JSON <c>{text, blocks}</c>, success is any 2xx (Slack answers 200 "ok").
/// Any other answer, a timeout or a network error is a failed delivery. The URL never appears in messages.
/// </summary>
public sealed class SlackWebhookChannel(HttpClient http, Uri webhookUrl) : IAlertChannel
{
    public string Name => "slack";

    public async Task PostAsync(AlertMessage alert, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsJsonAsync(webhookUrl, alert.ToSlackPayload(), cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            // The socket error (ConnectionRefused, HostNotFound, TimedOut…) says what is wrong; the URL's path is the secret.
            var socketError = ex.InnerException is SocketException socket ? $": {socket.SocketErrorCode}" : "";
            throw new AlertDeliveryException($"Slack webhook at {webhookUrl.Host} unreachable ({ex.HttpRequestError}{socketError})", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AlertDeliveryException($"Slack webhook did not answer within {http.Timeout.TotalSeconds:F0} s", ex);
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new AlertDeliveryException($"Slack webhook answered {(int)response.StatusCode} {response.StatusCode}: {OneLine(body)}");
        }
    }

    /// <summary>Slack's error body (<c>no_service</c>, <c>invalid_payload</c>…), or a proxy's page, as one short line.</summary>
    private static string OneLine(string body)
    {
        var line = string.Join(' ', body.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return line.Length > 200 ? line[..200] + "…" : line;
    }
}

/// <summary>No webhook configured (local runs): the alert goes to the log at Warning, in full.</summary>
public sealed partial class LogAlertChannel(ILogger<LogAlertChannel> logger) : IAlertChannel
{
    public string Name => "log";

    public Task PostAsync(AlertMessage alert, CancellationToken cancellationToken)
    {
        LogAlert(logger, AlertSettings.WebhookVariable, alert.Text);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "ALERT (not posted: {Variable} is not set)\n{AlertText}")]
    private static partial void LogAlert(ILogger logger, string variable, string alertText);
}
