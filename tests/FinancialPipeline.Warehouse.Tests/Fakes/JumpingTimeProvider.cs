using System.Collections.Concurrent;

namespace FinancialPipeline.Warehouse.Tests.Fakes;

/// <summary>
/// Virtual time for a client that waits on one timer at a time: every timer jumps the clock forward by its due
/// time and fires almost at once, and every requested wait is recorded. Polls, backoff and Retry-After cost no
/// real time, and tests can assert exactly how long the client chose to wait.
/// </summary>
internal sealed class JumpingTimeProvider : TimeProvider
{
    private static readonly DateTimeOffset Epoch = new(2024, 1, 2, 14, 30, 0, TimeSpan.Zero);
    private long _elapsedTicks;

    public ConcurrentQueue<TimeSpan> Waits { get; } = new();

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override DateTimeOffset GetUtcNow() => Epoch + TimeSpan.FromTicks(Interlocked.Read(ref _elapsedTicks));

    public override long GetTimestamp() => Interlocked.Read(ref _elapsedTicks);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new JumpTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private void Jump(TimeSpan by)
    {
        Waits.Enqueue(by);
        Interlocked.Add(ref _elapsedTicks, by.Ticks);
    }

    private sealed class JumpTimer(JumpingTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private ITimer? _real;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            _real?.Dispose();
            _real = null;
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return true;
            }

            owner.Jump(dueTime);
            // A real (tiny) timer so the callback never runs before CreateTimer has returned.
            _real = System.CreateTimer(callback, state, TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
            return true;
        }

        public void Dispose() => _real?.Dispose();

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
