using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FinancialPipeline.GoogleApis;
using Polly;
using Polly.Retry;

namespace FinancialPipeline.PubSub;

public sealed record PubSubOptions
{
    public required string ProjectId { get; init; }

    /// <summary>PUBSUB_EMULATOR_HOST ("host:port", no scheme): plain HTTP, no credentials.</summary>
    public string? EmulatorHost { get; init; }

    public Uri? BaseAddress { get; init; }
}

/// <summary>
/// Pub/Sub over its REST v1 API (the Google.Cloud.PubSub.V1 package is not served here). Talks to the emulator
/// when <see cref="PubSubOptions.EmulatorHost"/> is set, otherwise to pubsub.googleapis.com with Application
/// Default Credentials. Transient failures (429, 5xx, network) are retried with exponential backoff.
/// </summary>
public sealed partial class PubSubRestClient : IPublisherClient, ISubscriberClient
{
    public const int MaxMessagesPerRequest = 1000;
    public const int MaxRequestBytes = 10_000_000;
    private const string Scope = "https://www.googleapis.com/auth/pubsub";

    /// <summary>What <see cref="EnsureSubscriptionAsync"/> sets on an existing subscription; a field the spec leaves out is cleared.</summary>
    private static readonly string[] UpdatableFields = ["pushConfig", "ackDeadlineSeconds", "retryPolicy", "deadLetterPolicy", "messageRetentionDuration", "expirationPolicy"];

    private static readonly JsonSerializerOptions WireJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private const int MaxAttempts = 6;

    private readonly HttpClient _http;
    private readonly PubSubOptions _options;
    private readonly AdcTokenSource? _credentials;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    public PubSubRestClient(HttpClient http, PubSubOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ProjectId);
        _http = http;
        _options = options;
        var emulator = !string.IsNullOrWhiteSpace(options.EmulatorHost);
        _http.BaseAddress ??= options.BaseAddress ?? new Uri(emulator ? $"http://{options.EmulatorHost}/" : "https://pubsub.googleapis.com/");
        _credentials = emulator ? null : new AdcTokenSource(Scope);
        _retry = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex
                    ? HttpTransience.IsTransient(ex, args.Context.CancellationToken)
                    : args.Outcome.Result!.StatusCode is HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError),
            })
            .Build();
    }

    /// <summary>For callers without DI (CLI, tests): a client with its own HttpClient.</summary>
    public static PubSubRestClient Create(PubSubOptions options) => new(new HttpClient { Timeout = TimeSpan.FromSeconds(60) }, options);

    public string ProjectId => _options.ProjectId;

    private bool IsEmulator => !string.IsNullOrWhiteSpace(_options.EmulatorHost);

    public string TopicName(string topicId) => $"projects/{_options.ProjectId}/topics/{ValidId(topicId)}";

    public string SubscriptionName(string subscriptionId) => $"projects/{_options.ProjectId}/subscriptions/{ValidId(subscriptionId)}";

    // An id may hold '%' and '+': in a URL path they are escaped, or '%41' would reach the server as 'A'.
    private string TopicPath(string topicId) => $"v1/projects/{Uri.EscapeDataString(_options.ProjectId)}/topics/{Uri.EscapeDataString(ValidId(topicId))}";

    private string SubscriptionPath(string subscriptionId) => $"v1/projects/{Uri.EscapeDataString(_options.ProjectId)}/subscriptions/{Uri.EscapeDataString(ValidId(subscriptionId))}";

    public async Task EnsureTopicAsync(string topicId, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Put, TopicPath(topicId), new JsonObject(), cancellationToken);
        await EnsureSuccessAsync(response, $"create topic {topicId}", HttpStatusCode.Conflict);
    }

    public async Task DeleteTopicAsync(string topicId, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Delete, TopicPath(topicId), null, cancellationToken);
        await EnsureSuccessAsync(response, $"delete topic {topicId}", HttpStatusCode.NotFound);
    }

    public async Task<IReadOnlyList<string>> PublishAsync(string topicId, IReadOnlyList<PubsubMessage> messages, CancellationToken cancellationToken = default)
    {
        var path = $"{TopicPath(topicId)}:publish";
        var ids = new List<string>(messages.Count);
        foreach (var batch in Batches(messages))
        {
            var body = new JsonObject { ["messages"] = new JsonArray(batch.Select(ToJson).ToArray<JsonNode?>()) };
            using var response = await SendAsync(HttpMethod.Post, path, body, cancellationToken);
            await EnsureSuccessAsync(response, $"publish to {topicId}");
            var result = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken);
            var returned = result?["messageIds"]?.AsArray().Select(n => n!.GetValue<string>()).ToList() ?? [];
            if (returned.Count != batch.Count)
            {
                throw new PubSubException($"publish to {topicId} returned {returned.Count} ids for {batch.Count} messages");
            }

            ids.AddRange(returned);
        }

        return ids;
    }

    public async Task EnsureSubscriptionAsync(SubscriptionSpec spec, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject
        {
            ["topic"] = TopicName(spec.TopicId),
            ["ackDeadlineSeconds"] = spec.AckDeadlineSeconds,
        };
        if (spec.PushEndpoint is { } endpoint)
        {
            body["pushConfig"] = new JsonObject { ["pushEndpoint"] = endpoint };
        }

        if (spec.RetryPolicy is { } retry)
        {
            body["retryPolicy"] = new JsonObject { ["minimumBackoff"] = Duration(retry.MinimumBackoff), ["maximumBackoff"] = Duration(retry.MaximumBackoff) };
        }

        if (spec.DeadLetter is { } dlq)
        {
            body["deadLetterPolicy"] = new JsonObject { ["deadLetterTopic"] = TopicName(dlq.DeadLetterTopicId), ["maxDeliveryAttempts"] = dlq.MaxDeliveryAttempts };
        }

        if (spec.MessageRetention is { } retention)
        {
            body["messageRetentionDuration"] = Duration(retention);
        }

        if (spec.NeverExpires)
        {
            // An expiration policy without a ttl: never expires (no policy at all means 31 idle days).
            body["expirationPolicy"] = new JsonObject();
        }

        var path = SubscriptionPath(spec.SubscriptionId);
        using var response = await SendAsync(HttpMethod.Put, path, body, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Conflict)
        {
            await EnsureSuccessAsync(response, $"create subscription {spec.SubscriptionId}");
            return;
        }

        // It exists, e.g. left by a run that was killed: make it what the spec says (above all its push endpoint,
        // which would otherwise still point at that run's port), or refuse when it reads another topic.
        using var existing = await SendAsync(HttpMethod.Get, path, null, cancellationToken);
        await EnsureSuccessAsync(existing, $"read subscription {spec.SubscriptionId}");
        var topic = (await existing.Content.ReadFromJsonAsync<JsonObject>(cancellationToken))?["topic"]?.GetValue<string>();
        if (topic != TopicName(spec.TopicId))
        {
            throw new PubSubException($"subscription {spec.SubscriptionId} exists on topic {topic}, not {TopicName(spec.TopicId)}: delete it first");
        }

        body.Remove("topic");
        body["pushConfig"] ??= new JsonObject(); // an empty push config makes it a pull subscription
        // The emulator refuses to update expirationPolicy ("currently unsupported"); it keeps what it was created with.
        var fields = UpdatableFields.ToList();
        if (IsEmulator)
        {
            fields.Remove("expirationPolicy");
            body.Remove("expirationPolicy");
        }

        var update = new JsonObject { ["subscription"] = body, ["updateMask"] = string.Join(',', fields) };
        using var patched = await SendAsync(HttpMethod.Patch, path, update, cancellationToken);
        await EnsureSuccessAsync(patched, $"update subscription {spec.SubscriptionId}");
    }

    public async Task DeleteSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Delete, SubscriptionPath(subscriptionId), null, cancellationToken);
        await EnsureSuccessAsync(response, $"delete subscription {subscriptionId}", HttpStatusCode.NotFound);
    }

    public async Task<IReadOnlyList<ReceivedMessage>> PullAsync(string subscriptionId, int maxMessages, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["maxMessages"] = maxMessages, ["returnImmediately"] = true };
        using var response = await SendAsync(HttpMethod.Post, $"{SubscriptionPath(subscriptionId)}:pull", body, cancellationToken);
        await EnsureSuccessAsync(response, $"pull {subscriptionId}");
        var result = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken);
        var received = new List<ReceivedMessage>();
        foreach (var node in result?["receivedMessages"]?.AsArray() ?? [])
        {
            var message = node!["message"]!;
            var attributes = message["attributes"]?.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal) ?? [];
            var data = message["data"] is { } d ? Convert.FromBase64String(d.GetValue<string>()) : [];
            DateTimeOffset? publishTime = message["publishTime"] is { } t ? DateTimeOffset.Parse(t.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) : null;
            received.Add(new ReceivedMessage(
                node["ackId"]!.GetValue<string>(),
                message["messageId"]?.GetValue<string>() ?? string.Empty,
                data,
                attributes,
                publishTime,
                node["deliveryAttempt"]?.GetValue<int>() ?? 0));
        }

        return received;
    }

    public async Task AcknowledgeAsync(string subscriptionId, IReadOnlyCollection<string> ackIds, CancellationToken cancellationToken = default)
    {
        if (ackIds.Count == 0)
        {
            return;
        }

        var body = new JsonObject { ["ackIds"] = new JsonArray(ackIds.Select(id => (JsonNode?)id).ToArray()) };
        using var response = await SendAsync(HttpMethod.Post, $"{SubscriptionPath(subscriptionId)}:acknowledge", body, cancellationToken);
        await EnsureSuccessAsync(response, $"acknowledge on {subscriptionId}");
    }

    /// <summary>Splits messages into publish requests of at most 1000 messages and ~10 MB of JSON.</summary>
    public static IEnumerable<List<PubsubMessage>> Batches(IReadOnlyList<PubsubMessage> messages)
    {
        var batch = new List<PubsubMessage>();
        var bytes = 64L;
        foreach (var message in messages)
        {
            var size = EstimatedJsonBytes(message);
            if (size + 64 > MaxRequestBytes)
            {
                throw new ArgumentException($"message of {size} bytes (as JSON) exceeds the 10 MB publish request limit", nameof(messages));
            }

            if (batch.Count > 0 && (batch.Count == MaxMessagesPerRequest || bytes + size > MaxRequestBytes))
            {
                yield return batch;
                batch = [];
                bytes = 64;
            }

            batch.Add(message);
            bytes += size;
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    /// <summary>Conservative size of one message in the publish body: base64 data plus escaped attributes.</summary>
    public static long EstimatedJsonBytes(PubsubMessage message)
    {
        long size = 64 + (((message.Data.Length + 2) / 3) * 4);
        foreach (var (key, value) in message.Attributes)
        {
            size += 8 + (Encoding.UTF8.GetByteCount(key) * 6L) + (Encoding.UTF8.GetByteCount(value) * 6L);
        }

        return size + ((message.OrderingKey?.Length ?? 0) * 6L);
    }

    private static JsonObject ToJson(PubsubMessage message)
    {
        if (message.Data.Length == 0 && message.Attributes.Count == 0)
        {
            throw new ArgumentException("a Pub/Sub message needs data or at least one attribute", nameof(message));
        }

        var json = new JsonObject();
        if (message.Data.Length > 0)
        {
            json["data"] = Convert.ToBase64String(message.Data.Span);
        }

        if (message.Attributes.Count > 0)
        {
            json["attributes"] = new JsonObject(message.Attributes.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)a.Value)));
        }

        if (!string.IsNullOrEmpty(message.OrderingKey))
        {
            json["orderingKey"] = message.OrderingKey;
        }

        return json;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        // Relaxed escaping: the default encoder writes base64's '+' as \u002B, which would break the 10 MB batch estimate.
        var payload = body?.ToJsonString(WireJson);
        var token = _credentials is null ? null : await _credentials.GetAccessTokenAsync(cancellationToken);
        try
        {
            return await SendWithRetriesAsync(method, path, payload, token, cancellationToken);
        }
        catch (Exception ex) when (HttpTransience.IsTransient(ex, cancellationToken))
        {
            // Unreachable, refusing, or silent past the HTTP timeout on every attempt: say which Pub/Sub and what was
            // asked, not just the socket's "Connection refused (host:port)".
            var where = IsEmulator ? $"the emulator at PUBSUB_EMULATOR_HOST={_options.EmulatorHost}" : _http.BaseAddress?.Host ?? "Pub/Sub";
            var what = ex is OperationCanceledException ? $"no answer within {_http.Timeout.TotalSeconds:F0} s" : ex.Message;
            throw new PubSubException($"{method} {path} to {where} failed after {MaxAttempts} attempts: {what}", null, ex);
        }
    }

    private async Task<HttpResponseMessage> SendWithRetriesAsync(HttpMethod method, string path, string? payload, string? token, CancellationToken cancellationToken)
    {
        return await _retry.ExecuteAsync(
            async ct =>
            {
                using var request = new HttpRequestMessage(method, path);
                if (payload is not null)
                {
                    request.Content = new StringContent(payload, Encoding.UTF8, "application/json");
                }

                if (token is not null)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }

                return await _http.SendAsync(request, ct);
            },
            cancellationToken);
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, HttpStatusCode? alsoFine = null)
    {
        if (response.IsSuccessStatusCode || response.StatusCode == alsoFine)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync();
        var message = text;
        try
        {
            message = JsonNode.Parse(text)?["error"]?["message"]?.GetValue<string>() ?? text;
        }
        catch (JsonException)
        {
        }

        throw new PubSubException($"{what} failed: HTTP {(int)response.StatusCode} {message}", (int)response.StatusCode);
    }

    private static string Duration(TimeSpan value) => $"{(long)value.TotalSeconds}s";

    private static string ValidId(string id)
    {
        if (!IdPattern().IsMatch(id) || id.StartsWith("goog", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"'{id}' is not a valid Pub/Sub id (a letter, then 2-254 of A-Z a-z 0-9 - _ . ~ + %, not starting with goog)", nameof(id));
        }

        return id;
    }

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();
}
