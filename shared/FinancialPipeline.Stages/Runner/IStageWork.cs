using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;

namespace FinancialPipeline.Stages.Runner;

/// <summary>What triggered a stage run, already validated.</summary>
public sealed record StageInput(Guid ExecutionId, string JobName, TimeWindow? RequestedWindow, StageCompletedMessage? Upstream);

/// <summary>Everything a stage body needs; <see cref="CancellationToken"/> fires when the lease is lost.</summary>
public sealed class StageContext(ExecutionLedger ledger, Lease lease, JobConfig job, StageInput input, CancellationToken cancellationToken)
{
    public Lease Lease => lease;

    public JobConfig Job => job;

    public StageInput Input => input;

    public CancellationToken CancellationToken => cancellationToken;

    /// <summary>Fixes the data window at the first attempt (retries reuse it, so outputs stay deterministic).</summary>
    /// <param name="backfill">Bronze says whether the window was requested (a backfill) or is the incremental one.</param>
    public Task<TimeWindow> PinWindowAsync(TimeWindow proposed, bool? backfill = null) => ledger.PinWindowAsync(lease, proposed, cancellationToken, backfill);

    /// <summary>Call before every write of an output: throws <see cref="LeaseLostException"/> if another worker took over.</summary>
    public async Task EnsureOwnedAsync()
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!await ledger.HeartbeatAsync(lease, cancellationToken))
        {
            throw new LeaseLostException(lease);
        }
    }
}

/// <summary>What a stage body produced; becomes the ledger row and the completion event.</summary>
public sealed record StageOutcome(
    TimeWindow Window,
    RecordCounts Records,
    IReadOnlyList<string> Outputs,
    IReadOnlyList<string> TouchedDates,
    IReadOnlyDictionary<string, long> Metrics,
    IReadOnlyList<string> FailedTickers,
    DateTimeOffset? NewestTimestamp)
{
    /// <summary>The job's tickers the stage ran with (silver: the list its <c>ticker_in_job</c> rule used); empty when the stage does not say.</summary>
    public IReadOnlyList<string> Tickers { get; init; } = [];

    /// <summary>Bronze: the stock splits it restated, recorded by the SUCCESS commit (see <see cref="StageSuccess.RestatedSplits"/>).</summary>
    public IReadOnlyList<RestatedSplit> RestatedSplits { get; init; } = [];
}

/// <summary>The body of one stage: deterministic outputs for the same input.</summary>
public interface IStageWork
{
    Stage Stage { get; }

    /// <summary>
    /// Whether <see cref="RejectUnrunnable"/> has anything to check in <paramref name="input"/>. Static, so a body that is
    /// built only for a claimed run (<see cref="DeferredWork{TWork}"/>) is not built to answer it.
    /// </summary>
    static virtual bool ChecksBeforeClaim(StageInput input) => false;

    /// <summary>
    /// Called with the job found and before the claim: throws <see cref="MessageRejectedException"/> when the input can
    /// never run, so the message is rejected (answered 2xx, recorded) and leaves no ledger row. After the claim a
    /// rejection is a failure like any other (the row is FAILED and the message redelivered).
    /// </summary>
    void RejectUnrunnable(JobConfig job, StageInput input)
    {
    }

    Task<StageOutcome> ExecuteAsync(StageContext context);
}
