using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using Microsoft.Extensions.DependencyInjection;

namespace FinancialPipeline.Stages.Runner;

/// <summary>
/// A stage body taken from the container only when a claimed run executes it. A message that is rejected, busy
/// or already done never builds the market-data, storage and warehouse clients behind the body, so a cold host
/// answers it without paying for them; only an input the body checks before the claim (a backfill window, a completion
/// event's outputs or touched dates) builds it earlier.
/// </summary>
public sealed class DeferredWork<TWork>(IServiceProvider services, Stage stage) : IStageWork
    where TWork : class, IStageWork
{
    public Stage Stage => stage;

    /// <summary>Builds the body before the claim only for an input it has something to check in (see <see cref="IStageWork.ChecksBeforeClaim"/>).</summary>
    public void RejectUnrunnable(JobConfig job, StageInput input)
    {
        if (TWork.ChecksBeforeClaim(input))
        {
            Body().RejectUnrunnable(job, input);
        }
    }

    public Task<StageOutcome> ExecuteAsync(StageContext context) => Body().ExecuteAsync(context);

    private TWork Body()
    {
        var work = services.GetRequiredService<TWork>();
        if (work.Stage != stage)
        {
            throw new InvalidOperationException($"{typeof(TWork).Name} runs {work.Stage.ToWire()}, registered for {stage.ToWire()}");
        }

        return work;
    }
}
