using FinancialPipeline.ControlDb;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Core.Jobs;
using Npgsql;

namespace FinancialPipeline.Cli;

/// <summary>What the CLI checks before it publishes a start message: that Extract would run the job at all.</summary>
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
}
