using System.Globalization;

namespace FinancialPipeline.PubSub;

/// <summary>
/// How long a stage subscription keeps redelivering a message, and whether that outlasts the zombie threshold.
/// <para>
/// A worker that crashes (or loses the control database) mid-stage leaves its row RUNNING; only a redelivery that
/// arrives after the row's heartbeat is older than <c>FP_STALE_AFTER_SECONDS</c> takes it over. Every redelivery
/// before that meets a fresh row and is answered 409 at once, using up one of the subscription's
/// <c>max_delivery_attempts</c>. If the deliveries run out first, the message is dead-lettered and nothing takes the
/// row over: it stays a zombie until an operator replays it.
/// </para>
/// <para>
/// The span counted here: Pub/Sub waits a backoff between two deliveries of a message that was not acknowledged. Its
/// documentation says the backoff is exponential between the retry policy's minimum and maximum without giving the
/// formula. It is read here as doubling from the minimum, capped at the maximum (what the emulator's delivery times
/// fit): backoff k (after delivery k, k = 1 … N − 1) is min(maximum, minimum × 2^(k−1)), and the
/// span from the first to the last delivery as the sum of the N − 1 backoffs. Time spent inside deliveries is not
/// counted (a crashed worker's connection fails at once, and a 409 is immediate), so the span is a lower bound.
/// </para>
/// <para>
/// The check: the span must reach <c>FP_STALE_AFTER_SECONDS + FP_HEARTBEAT_SECONDS</c> (the heartbeat interval is the
/// margin for the claim's own time, clocks and Pub/Sub's jitter). It covers a worker that dies on the message's first
/// delivery, the usual case; one that dies on a later delivery has fewer backoffs left.
/// </para>
/// </summary>
public static class DeliverySchedule
{
    /// <summary>The backoff Pub/Sub waits after delivery <paramref name="delivery"/> (1-based) before the next one.</summary>
    public static TimeSpan BackoffAfter(RetryPolicySpec retry, int delivery)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delivery, 1);
        var backoff = retry.MinimumBackoff;
        for (var k = 1; k < delivery && backoff < retry.MaximumBackoff; k++)
        {
            backoff += backoff;
        }

        return backoff < retry.MaximumBackoff ? backoff : retry.MaximumBackoff;
    }

    /// <summary>The backoffs between the <paramref name="maxDeliveryAttempts"/> deliveries of one message.</summary>
    public static IReadOnlyList<TimeSpan> Backoffs(RetryPolicySpec retry, int maxDeliveryAttempts) =>
        Enumerable.Range(1, Math.Max(0, maxDeliveryAttempts - 1)).Select(k => BackoffAfter(retry, k)).ToList();

    /// <summary>From the first delivery to the last: the sum of <see cref="Backoffs"/>.</summary>
    public static TimeSpan Span(RetryPolicySpec retry, int maxDeliveryAttempts) =>
        Backoffs(retry, maxDeliveryAttempts).Aggregate(TimeSpan.Zero, (sum, b) => sum + b);

    /// <summary>
    /// Null when a message's deliveries outlast the zombie threshold (<see cref="Span"/> ≥ stale + heartbeat), else one
    /// line naming every setting involved and what follows.
    /// </summary>
    public static string? TakeoverProblem(RetryPolicySpec retry, int maxDeliveryAttempts, TimeSpan staleAfter, TimeSpan heartbeatInterval)
    {
        var span = Span(retry, maxDeliveryAttempts);
        var needed = staleAfter + heartbeatInterval;
        if (span >= needed)
        {
            return null;
        }

        var backoffs = string.Join(" + ", Backoffs(retry, maxDeliveryAttempts).Select(Seconds));
        var deliveries = string.Create(
            CultureInfo.InvariantCulture,
            $"max_delivery_attempts={maxDeliveryAttempts} with retry backoff minimum {Seconds(retry.MinimumBackoff)} s / maximum {Seconds(retry.MaximumBackoff)} s redelivers a message for {Seconds(span)} s ({(backoffs.Length == 0 ? "no backoff" : backoffs + " s")})");
        return deliveries +
            $", less than FP_STALE_AFTER_SECONDS={Seconds(staleAfter)} + FP_HEARTBEAT_SECONDS={Seconds(heartbeatInterval)} = {Seconds(needed)} s: " +
            "a crashed worker's message would be dead-lettered before its row is stale, and no delivery would take the zombie over; " +
            "raise the backoff or max_delivery_attempts, or lower FP_STALE_AFTER_SECONDS";
    }

    /// <summary>Pub/Sub's ceiling for a retry policy's minimum and maximum backoff.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(600);

    /// <summary>
    /// <paramref name="preferred"/> when its deliveries outlast stale + heartbeat; otherwise the shortest doubling
    /// policy (whole seconds, within Pub/Sub's 600 s ceiling) whose <paramref name="maxDeliveryAttempts"/> deliveries
    /// do, so a longer zombie threshold slows retries instead of losing takeovers. Still <paramref name="preferred"/>
    /// when none can (<see cref="TakeoverProblem"/> then says so).
    /// </summary>
    public static RetryPolicySpec Outlasting(RetryPolicySpec preferred, int maxDeliveryAttempts, TimeSpan staleAfter, TimeSpan heartbeatInterval)
    {
        var needed = staleAfter + heartbeatInterval;
        if (maxDeliveryAttempts < 2 || Span(preferred, maxDeliveryAttempts) >= needed)
        {
            return preferred;
        }

        // Doubling from m over N − 1 backoffs sums to m × (2^(N−1) − 1) while under the cap.
        var doublings = Math.Min(maxDeliveryAttempts - 1, 30);
        var minimum = TimeSpan.FromSeconds(Math.Ceiling(needed.TotalSeconds / ((1L << doublings) - 1)));
        minimum = minimum > preferred.MinimumBackoff ? minimum : preferred.MinimumBackoff;
        minimum = minimum < MaxBackoff ? minimum : MaxBackoff;
        var fitted = new RetryPolicySpec(minimum, MaxBackoff);
        return Span(fitted, maxDeliveryAttempts) >= needed ? fitted : preferred;
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
