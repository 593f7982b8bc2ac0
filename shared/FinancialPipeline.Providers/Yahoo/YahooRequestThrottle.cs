using System.Threading.RateLimiting;

namespace FinancialPipeline.Providers.Yahoo;

/// <summary>
/// The politeness budget of one Yahoo provider: a token bucket (requests per second plus burst) and a bound on
/// requests in flight, shared by every ticker, chunk and retry that goes through it.
/// </summary>
public sealed class YahooRequestThrottle : IDisposable
{
    private static readonly TimeSpan MinReplenishmentPeriod = TimeSpan.FromMilliseconds(50);

    private readonly TokenBucketRateLimiter _rate;
    private readonly SemaphoreSlim _inFlight;
    private long _pausedUntil; // a TimeProvider timestamp; 0: no pause

    public YahooRequestThrottle(YahooOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();

        // One token per 1/rate s, but no timer faster than 50 ms: high rates get several tokens per tick instead.
        var period = TimeSpan.FromSeconds(1 / options.RequestsPerSecond);
        if (period < MinReplenishmentPeriod)
        {
            period = MinReplenishmentPeriod;
        }

        var tokensPerPeriod = Math.Max(1, (int)Math.Round(options.RequestsPerSecond * period.TotalSeconds));
        _rate = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(options.Burst, tokensPerPeriod),
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = period,
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        });
        _inFlight = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        MaxConcurrency = options.MaxConcurrency;
    }

    public int MaxConcurrency { get; }

    /// <summary>
    /// Holds every request of this throttle for <paramref name="delay"/> from now (or longer, if a later pause is already
    /// set): Yahoo's 429 limits the client, not the symbol, so a <c>Retry-After</c> one request received applies to all of
    /// them. Measured on <paramref name="time"/>'s monotonic timestamps, as the wait in <see cref="EnterAsync"/> is.
    /// </summary>
    public void PauseFor(TimeSpan delay, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        var until = time.GetTimestamp() + (long)(delay.TotalSeconds * time.TimestampFrequency);
        for (var current = Interlocked.Read(ref _pausedUntil); until > current; current = Interlocked.Read(ref _pausedUntil))
        {
            if (Interlocked.CompareExchange(ref _pausedUntil, until, current) == current)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Waits for a free request slot, then for a pause set by <see cref="PauseFor"/> to end, then for a rate token, and holds the
    /// slot until the returned handle is disposed. Slot first: a token taken while waiting for a slot would let queued
    /// requests fire in a burst.
    /// </summary>
    public async ValueTask<IDisposable> EnterAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        await _inFlight.WaitAsync(cancellationToken);
        try
        {
            for (var left = Interlocked.Read(ref _pausedUntil) - time.GetTimestamp(); left > 0; left = Interlocked.Read(ref _pausedUntil) - time.GetTimestamp())
            {
                await Task.Delay(TimeSpan.FromSeconds((double)left / time.TimestampFrequency), time, cancellationToken);
            }

            using var lease = await _rate.AcquireAsync(1, cancellationToken);
            if (!lease.IsAcquired)
            {
                throw new InvalidOperationException("the Yahoo rate limiter refused a request");
            }

            return new Slot(_inFlight);
        }
        catch
        {
            _inFlight.Release();
            throw;
        }
    }

    public void Dispose()
    {
        _rate.Dispose();
        _inFlight.Dispose();
    }

    private sealed class Slot(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                semaphore.Release();
            }
        }
    }
}
