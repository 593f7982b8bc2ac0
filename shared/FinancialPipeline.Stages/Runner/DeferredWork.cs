using FinancialPipeline.Core.Contracts;
using Microsoft.Extensions.DependencyInjection;

namespace FinancialPipeline.Stages.Runner;

/// <summary>
/// A stage body taken from the container only when a claimed run executes it. A message that is rejected, busy
/// or already done never builds the market-data, storage and warehouse clients behind the body, so a cold host
/// answers it without paying for them.
/// </summary>
public sealed class DeferredWork<TWork>(IServiceProvider services, Stage stage) : IStageWork
    where TWork : class, IStageWork
{
    public Stage Stage => stage;

    public Task<StageOutcome> ExecuteAsync(StageContext context)
    {
        var work = services.GetRequiredService<TWork>();
        if (work.Stage != stage)
        {
            throw new InvalidOperationException($"{typeof(TWork).Name} runs {work.Stage.ToWire()}, registered for {stage.ToWire()}");
        }

        return work.ExecuteAsync(context);
    }
}
