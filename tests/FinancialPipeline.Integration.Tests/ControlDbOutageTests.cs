using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Runner;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// A stage that fails while the control database is unreachable (the real PostgreSQL behind a TCP forwarder the test
/// cuts): the row must not be left RUNNING by a single failed write, the log must not claim "marked FAILED" when it
/// was not, and the request answers with the stage's own error, not the database's.
/// </summary>
[Collection(nameof(StackFixture))]
public sealed class ControlDbOutageTests(StackFixture stack)
{
    private const string WorkError = "all 1 tickers failed: provider answered 404";

    [Fact]
    public async Task AFailureDuringAShortOutage_IsMarkedFailed_OnceTheDatabaseAnswersAgain()
    {
        await using var forwarder = ForwarderToPostgres();
        await using var dataSource = ControlDbDataSource.Create(ThroughForwarder(forwarder));
        var (runner, logs) = Runner(dataSource, TimeSpan.FromSeconds(15));
        var input = await InputAsync();
        var work = new FailsDuringAnOutage(forwarder, restoreAfter: TimeSpan.FromSeconds(2));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunAsync(work, input, CancellationToken.None));

        Assert.Equal(WorkError, failure.Message);
        var row = await Ledger(stack.DataSource).GetAsync(input.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("FAILED", 1, $"InvalidOperationException: {WorkError}"), (row!.Status, row.Attempt, row.Error));
        var error = Assert.Single(logs.Lines, l => l.Level >= LogLevel.Error);
        Assert.Equal("attempt 1 failed; marked FAILED", error.Message);
    }

    [Fact]
    public async Task AFailureThroughALongerOutage_SaysTheRowStaysRunning_AndAnswersWithTheStagesOwnError()
    {
        await using var forwarder = ForwarderToPostgres();
        await using var dataSource = ControlDbDataSource.Create(ThroughForwarder(forwarder));
        var (runner, logs) = Runner(dataSource, TimeSpan.FromSeconds(3));
        var input = await InputAsync();

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunAsync(new FailsDuringAnOutage(forwarder, restoreAfter: null), input, CancellationToken.None));

        Assert.Equal(WorkError, failure.Message);
        var row = await Ledger(stack.DataSource).GetAsync(input.ExecutionId, Stage.Bronze, CancellationToken.None);
        Assert.Equal(("RUNNING", 1, (string?)null), (row!.Status, row.Attempt, row.Error));
        var error = Assert.Single(logs.Lines, l => l.Level >= LogLevel.Error);
        Assert.StartsWith("attempt 1 failed and could not be marked FAILED: the control database did not answer for 3 s (", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("the row stays RUNNING until its heartbeat is stale (after 90 s), when a later delivery of the message takes it over; if Pub/Sub dead-letters it first, the alert asks for a replay", error.Message, StringComparison.Ordinal);
        Assert.Equal(WorkError, error.Exception?.Message);
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains("; marked FAILED", StringComparison.Ordinal));
    }

    private TcpForwarder ForwarderToPostgres()
    {
        var target = new NpgsqlConnectionStringBuilder(stack.Infrastructure.PostgresConnection);
        return new TcpForwarder(target.Host!, target.Port);
    }

    private string ThroughForwarder(TcpForwarder forwarder) =>
        new NpgsqlConnectionStringBuilder(stack.Infrastructure.PostgresConnection) { Host = "127.0.0.1", Port = forwarder.Port, Timeout = 2 }.ConnectionString;

    private static ExecutionLedger Ledger(NpgsqlDataSource dataSource) => new(dataSource, TimeProvider.System, new LedgerOptions());

    private async Task<StageInput> InputAsync() => new(Guid.NewGuid(), (await stack.CreateJobAsync()).JobName, null, null);

    private static (StageRunner Runner, CapturingLoggerProvider Logs) Runner(NpgsqlDataSource dataSource, TimeSpan budget)
    {
        var logs = new CapturingLoggerProvider();
        using var factory = new LoggerFactory([logs]);
        var runner = new StageRunner(
            Ledger(dataSource),
            new JobConfigRepository(dataSource),
            new Lazy<IPublisherClient>(() => throw new InvalidOperationException("a failed stage publishes nothing")),
            new StageTopics("unused-"),
            TimeProvider.System,
            factory.CreateLogger<StageRunner>())
        {
            FailureRecordingBudget = budget,
        };
        return (runner, logs);
    }

    /// <summary>Claimed, then the database goes away and the work fails (as a provider outage would fail it).</summary>
    private sealed class FailsDuringAnOutage(TcpForwarder forwarder, TimeSpan? restoreAfter) : IStageWork
    {
        public Stage Stage => Stage.Bronze;

        public Task<StageOutcome> ExecuteAsync(StageContext context)
        {
            forwarder.Cut();
            if (restoreAfter is { } after)
            {
                _ = Task.Delay(after).ContinueWith(_ => forwarder.Restore(), TaskScheduler.Default);
            }

            throw new InvalidOperationException(WorkError);
        }
    }
}
