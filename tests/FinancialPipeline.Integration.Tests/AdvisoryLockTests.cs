using System.IO.Hashing;
using System.Text;
using FinancialPipeline.ControlDb;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// The silver lock on real PostgreSQL: a writer waiting its turn waits as long as the holder's commit takes, not a
/// command timeout, and only the stage's cancellation ends the wait.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class AdvisoryLockTests(StackFixture stack)
{
    /// <summary>Shorter than the holder keeps the lock: on the old code the waiter failed when it ran out.</summary>
    private const int CommandTimeoutSeconds = 2;

    [Fact]
    public async Task AWriterWaitingLongerThanTheCommandTimeout_GetsTheLockOnceItIsReleased()
    {
        var name = TransformWork.LockName(StackFixture.UniqueName("wait-"));
        await using var shortTimeout = ControlDbDataSource.Create(WithShortCommandTimeout());
        var logs = new CapturingLoggerProvider();
        using var loggers = new LoggerFactory([logs]);
        var holder = await new AdvisoryLocks(stack.DataSource).AcquireAsync(name, CancellationToken.None);

        var waiter = new AdvisoryLocks(shortTimeout, loggers.CreateLogger<AdvisoryLocks>()).AcquireAsync(name, CancellationToken.None);
        // Until the server shows the waiter's lock request queued for longer than twice the command timeout, by its own
        // clock. Was: a 4 s sleep, after which a slow machine could have the waiter not yet (or only just) waiting.
        await WaitUntilQueuedForAsync(name, TimeSpan.FromSeconds(CommandTimeoutSeconds * 2), waiter);
        Assert.False(waiter.IsCompleted, waiter.Exception?.ToString() ?? "took a lock another session holds");
        await holder.DisposeAsync();

        await using var held = await waiter.WaitAsync(TimeSpan.FromSeconds(10));
        var line = Assert.Single(logs.Lines);
        Assert.Equal((LogLevel.Information, $"waiting for the silver lock {name} held by another writer"), (line.Level, line.Message));
    }

    [Fact]
    public async Task AWaitEndedByTheStagesCancellation_NamesTheLock_AndLeavesNoWaiterBehind()
    {
        var name = TransformWork.LockName(StackFixture.UniqueName("cancel-"));
        await using var shortTimeout = ControlDbDataSource.Create(WithShortCommandTimeout());
        var locks = new AdvisoryLocks(shortTimeout);
        var holder = await new AdvisoryLocks(stack.DataSource).AcquireAsync(name, CancellationToken.None);
        using var stage = new CancellationTokenSource();

        // Cancelled once its wait has outlasted the command timeout (on the server's clock), so it is the cancellation
        // that ends it. Was: a timer of 3 s from the call, which on a slow machine could fire before the wait began.
        var waiter = locks.AcquireAsync(name, stage.Token);
        await WaitUntilQueuedForAsync(name, TimeSpan.FromSeconds(CommandTimeoutSeconds + 1), waiter);
        await stage.CancelAsync();
        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal($"stopped waiting for the lock {name} held by another writer: the stage was cancelled", cancelled.Message);
        await holder.DisposeAsync();
        // Nobody else holds it now: the cancelled waiter did not take it on its way out.
        await using var next = await locks.AcquireAsync(name, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// Waits until a session's request for the advisory lock <paramref name="name"/> has been queued (not granted) for at
    /// least <paramref name="queuedFor"/>, by the server's clock; fails at once if <paramref name="waiter"/> ends first.
    /// </summary>
    private async Task WaitUntilQueuedForAsync(string name, TimeSpan queuedFor, Task waiter)
    {
        // pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
        var key = (ulong)unchecked((long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(name)));
        await Eventually.WaitAsync(
            async () =>
            {
                Assert.False(waiter.IsCompleted, waiter.Exception?.ToString() ?? "the waiter ended while another session holds the lock");
                await using var cmd = stack.DataSource.CreateCommand("""
                    SELECT EXISTS (
                        SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                        WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
                          AND l.classid::bigint = @high AND l.objid::bigint = @low
                          AND a.wait_event_type = 'Lock' AND clock_timestamp() - a.query_start >= @queuedFor)
                    """);
                cmd.Parameters.AddWithValue("high", (long)(key >> 32));
                cmd.Parameters.AddWithValue("low", (long)(key & 0xFFFF_FFFF));
                cmd.Parameters.AddWithValue("queuedFor", queuedFor);
                return await cmd.ExecuteScalarAsync() is true;
            },
            TimeSpan.FromSeconds(60),
            $"a request for the lock {name} queued for {queuedFor.TotalSeconds:F0} s");
    }

    private string WithShortCommandTimeout() =>
        new NpgsqlConnectionStringBuilder(stack.Infrastructure.PostgresConnection) { CommandTimeout = CommandTimeoutSeconds }.ConnectionString;
}
