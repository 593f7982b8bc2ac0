using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Stages.Work;
using Npgsql;

namespace FinancialPipeline.Cli;

/// <summary>What the CLI checks before it publishes a start message: that Extract would run the job, and its window.</summary>
internal static class StartChecks
{
    /// <summary>
    /// The job when Extract would run it; otherwise null and why: not in ingestion_job_config or inactive (Extract
    /// rejects the message), a row breaking a rule (Extract fails on every delivery until dead-lettered), an invalid name.
    /// </summary>
    public static async Task<(JobConfig? Job, string? Refusal)> FindRunnableJobAsync(NpgsqlDataSource dataSource, string jobName, CancellationToken ct)
    {
        JobConfig? job;
        try
        {
            job = await new JobConfigRepository(dataSource).FindAsync(StartMessage.ValidJobName(jobName), ct);
        }
        catch (JobConfigException ex)
        {
            return (null, $"{ex.Message}; the Extract function would fail on every delivery until the row is fixed (ingestion_job_config)");
        }
        catch (MessageRejectedException ex)
        {
            return (null, $"{ex.Field}: {ex.Reason}");
        }

        return job switch
        {
            null => (null, $"--job '{jobName}' is not in ingestion_job_config; the Extract function would reject the message"),
            { Active: false } => (null, $"job '{jobName}' is inactive (ingestion_job_config.active = false); the Extract function would reject the message"),
            _ => (job, null),
        };
    }

    /// <summary>
    /// What Extract would do with an explicit (backfill) window as of <paramref name="now"/>: the window it fetches,
    /// with a note when that is clamped; otherwise null and why it would reject the message (no bar of the window is
    /// completed, or all are older than the provider serves).
    /// </summary>
    public static (ExtractWindowPlan? Plan, string? Refusal) CheckWindow(JobConfig job, IQuoteProvider provider, TimeWindow window, DateTimeOffset now)
    {
        try
        {
            return (ExtractWindows.Backfill(job, window, now, provider), null);
        }
        catch (MessageRejectedException ex)
        {
            return (null, $"{ex.Field}: {ex.Reason}; the Extract function would reject the message");
        }
    }
}
