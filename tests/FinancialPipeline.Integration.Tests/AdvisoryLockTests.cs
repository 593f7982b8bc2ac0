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
        await Task.Delay(TimeSpan.FromSeconds(CommandTimeoutSeconds * 2));
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
        using var stage = new CancellationTokenSource(TimeSpan.FromSeconds(CommandTimeoutSeconds + 1));

        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => locks.AcquireAsync(name, stage.Token));

        Assert.Equal($"stopped waiting for the lock {name} held by another writer: the stage was cancelled", cancelled.Message);
        await holder.DisposeAsync();
        // Nobody else holds it now: the cancelled waiter did not take it on its way out.
        await using var next = await locks.AcquireAsync(name, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
    }

    private string WithShortCommandTimeout() =>
        new NpgsqlConnectionStringBuilder(stack.Infrastructure.PostgresConnection) { CommandTimeout = CommandTimeoutSeconds }.ConnectionString;
}
